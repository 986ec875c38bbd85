"""infra/postgres: the event tables refuse UPDATE, DELETE and TRUNCATE even from
their owner once the trigger is installed; the application role may only append
and read them; Careplan keeps working under both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from domain.values import Actor, CommandContext
from services.bootstrap import Careplan, bootstrap
from services.exactly_once import COMMAND_KEY
from services.settings import Settings

INFRA = Path(__file__).resolve().parents[2] / "infra" / "postgres"
DR = Actor("dr-ada", "prescriber")


def ctx() -> CommandContext:
    return CommandContext(DR, datetime.now(UTC) - timedelta(minutes=5))


@pytest.fixture
def hardened(postgres_database: str, tmp_path: Path) -> Iterator[tuple[Careplan, str]]:
    """A store with the tables created, then both scripts installed."""
    careplan = bootstrap(
        Settings(data_dir=tmp_path, database_url=postgres_database, jwt_secret="x" * 40)
    )
    token = COMMAND_KEY.set(("dr-ada", "key-before"))  # a keyed command: an outcome row
    try:
        careplan.app.open_care_plan("pt-before", ctx())
    finally:
        COMMAND_KEY.reset(token)
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        for script in ("append_only.sql", "app_role.sql"):
            conn.execute((INFRA / script).read_text())
    yield careplan, postgres_database
    careplan.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE careplans_events SET topic = topic",
        "DELETE FROM careplans_events",
        "TRUNCATE careplans_events",
        "UPDATE careplan_event_chain SET link = link",
        "DELETE FROM careplan_event_chain",
    ],
)
def test_the_owner_cannot_change_stored_events(
    hardened: tuple[Careplan, str], statement: str
) -> None:
    _, url = hardened
    with (
        psycopg.connect(url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)


def test_commands_still_append_and_a_migration_can_say_so(
    hardened: tuple[Careplan, str],
) -> None:
    careplan, url = hardened
    plan = careplan.app.open_care_plan("pt-after", ctx()).care_plan_id
    assert careplan.app.care_plan(plan).version == 1
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET careplan.allow_event_changes = 'on'")
        conn.execute("UPDATE careplans_events SET topic = topic WHERE originator_version = 1")


def test_the_application_role_may_only_append_and_read(
    hardened: tuple[Careplan, str], tmp_path: Path
) -> None:
    _, url = hardened
    password = uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE careplan_app PASSWORD '{password}'")
    parts = urlsplit(url)
    host = f"careplan_app:{password}@{parts.hostname}:{parts.port or 5432}"
    app_url = urlunsplit(parts._replace(netloc=host))
    as_app = bootstrap(
        Settings(
            data_dir=tmp_path / "app",
            database_url=app_url,
            jwt_secret="y" * 40,
            create_event_tables=False,
        )
    )
    try:
        plan = as_app.app.open_care_plan("pt-app", ctx()).care_plan_id
        assert as_app.app.care_plan(plan).version == 1
    finally:
        as_app.close()
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute("SET careplan.allow_event_changes = 'on'")  # not for this role
        for statement in (
            "DELETE FROM careplans_events",
            "UPDATE careplans_events SET topic = topic",
            "TRUNCATE careplan_event_chain",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def as_the_service_role(url: str) -> str:
    """The URL of careplan_app (given a password for this test)."""
    password = uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE careplan_app PASSWORD '{password}'")
    parts = urlsplit(url)
    host = f"careplan_app:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=host))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE careplans_events SET topic = topic",
        "DELETE FROM careplans_events",
        "UPDATE careplan_event_chain SET link = link",
        "DELETE FROM careplan_event_chain",
        "UPDATE careplan_command_outcomes SET result = result",
    ],
)
def test_the_service_role_cannot_shadow_its_way_past_the_trigger(
    hardened: tuple[Careplan, str], statement: str
) -> None:
    """The service role may create in public (its views live there): with operators of
    its own ahead of pg_catalog and the migration setting on, it is still refused."""
    _, url = hardened
    with psycopg.connect(as_the_service_role(url), autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION public.always_n(name, name) RETURNS boolean "
            "LANGUAGE sql AS 'SELECT true'"
        )
        conn.execute(
            "CREATE OPERATOR public.<> "
            "(LEFTARG = name, RIGHTARG = name, FUNCTION = public.always_n)"
        )
        conn.execute(
            "CREATE FUNCTION public.always_t(text, text) RETURNS boolean "
            "LANGUAGE sql AS 'SELECT true'"
        )
        conn.execute(
            "CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.always_t)"
        )
        conn.execute("SET search_path = public, pg_catalog")
        conn.execute("SET careplan.allow_event_changes = 'on'")
        # The shadow works in this session: the trigger alone must not be fooled by it.
        assert conn.execute("SELECT current_user <> 'careplan_app'").fetchone() == (True,)
        refused = "append-only" if statement.startswith("UPDATE") else "permission denied"
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refused):
            conn.execute(statement)
