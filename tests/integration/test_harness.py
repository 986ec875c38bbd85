"""The test harness itself: a PostgreSQL is always found, started, or explained."""

from __future__ import annotations

import pytest

from tests.support import postgres
from tests.support.ports import free_port


def test_an_unreachable_server_is_replaced_by_a_throwaway_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "CAREPLAN_TEST_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    )
    with postgres.postgres_server() as url:
        assert postgres.reachable(url)
        with postgres.fresh_database(url) as database:
            assert postgres.reachable(database)
    assert not postgres.reachable(url)


def test_without_server_or_binaries_the_failure_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "CAREPLAN_TEST_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    )
    monkeypatch.setattr(postgres, "_pg_bin", lambda: None)
    server = postgres.postgres_server()
    with pytest.raises(RuntimeError, match="CAREPLAN_TEST_DATABASE_URL") as failure:
        server.__enter__()
    assert "apt-get install postgresql" in str(failure.value)
