"""Shared fixtures: the stores (SQLite and PostgreSQL), the broker, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.bootstrap import Careplan, bootstrap
from services.settings import Settings
from tests.support.kafka import kafka_broker
from tests.support.postgres import fresh_database, postgres_server

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-signing"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A server URL where tests create their own databases (see tests/support/postgres.py)."""
    try:
        with postgres_server() as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    with kafka_broker() as servers:
        yield servers


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same test body runs against both stores."""
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_database")
    return Settings(data_dir=tmp_path / "var", database_url=database_url, jwt_secret=TEST_SECRET)


@pytest.fixture
def careplan(settings: Settings) -> Iterator[Careplan]:
    running = bootstrap(settings)
    yield running
    running.close()
