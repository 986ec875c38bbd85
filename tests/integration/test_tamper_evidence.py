"""Tampering with stored rows through SQL is detected, on both stores: an UPDATE of
an event, a DELETE, two versions swapped, a link changed. The seal proves nothing
changed since it was taken. Links are written in the events' own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from typer.testing import CliRunner

from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.bootstrap import Careplan
from services.chain.links import GENESIS, ChainBroken, link
from services.chain.verify import backfill, verify
from services.cli import cli
from services.settings import Settings

DR = Actor("dr-ada", "prescriber")


def ctx() -> CommandContext:
    return CommandContext(DR, datetime.now(UTC) - timedelta(hours=1))


def a_plan(careplan: Careplan, patient: str = "pt-chain") -> str:
    app = careplan.app
    plan = app.open_care_plan(patient, ctx()).care_plan_id
    app.record_evaluation(
        plan, Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),)), ctx()
    )
    app.prescribe(
        plan,
        drug="sertraline",
        dose=Dose(Decimal(25), "mg"),
        frequency="daily",
        route="oral",
        indication="MDD",
        follow_up=FollowUpPlan((datetime.now(UTC) + timedelta(days=14)).date()),
        ctx=ctx(),
    )
    return str(plan)


def execute(careplan: Careplan, sqlite_sql: str, postgres_sql: str, *params: object) -> None:
    sqlite = careplan.views.is_sqlite
    with careplan.app.factory.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(sqlite_sql if sqlite else postgres_sql, params)


def key(careplan: Careplan, plan: str) -> object:
    return UUID(plan).hex if careplan.views.is_sqlite else UUID(plan)


def table(careplan: Careplan) -> str:
    return careplan.app.recorder.events_table_name  # type: ignore[attr-defined]


def findings(careplan: Careplan) -> list[tuple[str, int, str]]:
    return [(f.plan_id, f.version, f.what) for f in verify(careplan.app).findings]


def test_an_untouched_store_is_intact(careplan: Careplan) -> None:
    a_plan(careplan, "pt-1")
    a_plan(careplan, "pt-2")
    result = verify(careplan.app)
    assert result.intact
    assert (result.plans, result.events) == (2, 8)


def test_an_updated_event_is_detected(careplan: Careplan) -> None:
    plan = a_plan(careplan)
    events = table(careplan)
    execute(
        careplan,
        f"UPDATE {events} SET state = CAST(replace(CAST(state AS TEXT), '25', '250') AS BLOB) "
        "WHERE originator_id = ? AND originator_version = 3",
        f"UPDATE {events} "
        "SET state = convert_to(replace(convert_from(state, 'UTF8'), '25', '250'), 'UTF8') "
        "WHERE originator_id = %s AND originator_version = 3",
        key(careplan, plan),
    )
    assert findings(careplan) == [(plan, 3, "altered")]


def test_a_deleted_event_is_detected(careplan: Careplan) -> None:
    plan = a_plan(careplan)
    events = table(careplan)
    execute(
        careplan,
        f"DELETE FROM {events} WHERE originator_id = ? AND originator_version = 2",
        f"DELETE FROM {events} WHERE originator_id = %s AND originator_version = 2",
        key(careplan, plan),
    )
    assert findings(careplan) == [(plan, 2, "missing")]


def test_swapped_versions_are_detected(careplan: Careplan) -> None:
    plan = a_plan(careplan)
    events = table(careplan)
    move = f"UPDATE {events} SET originator_version = {{to}} WHERE originator_id = {{p}} AND "
    for before, after in ((2, 99), (3, 2), (99, 3)):
        statement = move + f"originator_version = {before}"
        execute(
            careplan,
            statement.format(to=after, p="?"),
            statement.format(to=after, p="%s"),
            key(careplan, plan),
        )
    assert findings(careplan) == [(plan, 2, "reordered"), (plan, 3, "reordered")]


def test_a_changed_link_is_detected(careplan: Careplan) -> None:
    plan = a_plan(careplan)
    execute(
        careplan,
        "UPDATE careplan_event_chain SET link = ? "
        "WHERE originator_id = ? AND originator_version = 4",
        "UPDATE careplan_event_chain SET link = %s "
        "WHERE originator_id = %s AND originator_version = 4",
        "f" * 64,
        key(careplan, plan),
    )
    assert findings(careplan) == [(plan, 4, "altered")]


def test_the_cli_verifies_and_seals(
    careplan: Careplan, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = a_plan(careplan)
    for name, value in (
        ("CAREPLAN_DATA_DIR", str(settings.data_dir)),
        ("CAREPLAN_DATABASE_URL", settings.database_url or ""),
        ("CAREPLAN_JWT_SECRET", settings.resolved_jwt_secret()),
    ):
        monkeypatch.setenv(name, value)
    if not settings.database_url:
        monkeypatch.delenv("CAREPLAN_DATABASE_URL")
    runner = CliRunner()
    sealed = runner.invoke(cli, ["audit", "seal"])
    assert sealed.exit_code == 0, sealed.output
    digest = sealed.output.strip()
    assert digest.startswith("careplan-seal:v1:1:")
    intact = runner.invoke(cli, ["audit", "verify", "--against", digest])
    assert (intact.exit_code, intact.output.startswith("intact")) == (0, True)
    careplan.app.record_adherence(plan, adherence="taking_as_prescribed", ctx=ctx())
    changed = runner.invoke(cli, ["audit", "verify", "--against", digest])
    assert changed.exit_code == 1
    assert "CHANGED since the seal" in changed.output
    execute(
        careplan,
        f"DELETE FROM {table(careplan)} WHERE originator_id = ? AND originator_version = 1",
        f"DELETE FROM {table(careplan)} WHERE originator_id = %s AND originator_version = 1",
        key(careplan, plan),
    )
    tampered = runner.invoke(cli, ["audit", "verify", "--plan", plan])
    assert tampered.exit_code == 1
    assert f"plan {plan}: version 1 missing" in tampered.output


def unchain(careplan: Careplan, plan: str) -> None:
    """As a store written before the chain existed: the plan's events have no links."""
    execute(
        careplan,
        "DELETE FROM careplan_event_chain WHERE originator_id = ?",
        "DELETE FROM careplan_event_chain WHERE originator_id = %s",
        key(careplan, plan),
    )


def test_a_plan_without_links_takes_nothing_new_until_backfilled(careplan: Careplan) -> None:
    """A plan from before the chain looks exactly like one whose links were all
    deleted: only the explicit backfill (an administrator's act, then a seal) chains it."""
    plan = a_plan(careplan)
    unchain(careplan, plan)
    assert {what for _, _, what in findings(careplan)} == {"unchained"}
    with pytest.raises(ChainBroken):
        careplan.app.record_adherence(plan, adherence="taking_as_prescribed", ctx=ctx())
    assert backfill(careplan.app) == 1
    careplan.app.record_adherence(plan, adherence="taking_as_prescribed", ctx=ctx())
    assert verify(careplan.app).intact


def forge_dose(careplan: Careplan, plan: str, version: int = 3) -> None:
    """As the service's database role could: the prescribed dose changed in place."""
    events = table(careplan)
    execute(
        careplan,
        f"UPDATE {events} SET state = CAST(replace(CAST(state AS TEXT), '25', '250') AS BLOB) "
        "WHERE originator_id = ? AND originator_version = ?",
        f"UPDATE {events} "
        "SET state = convert_to(replace(convert_from(state, 'UTF8'), '25', '250'), 'UTF8') "
        "WHERE originator_id = %s AND originator_version = %s",
        key(careplan, plan),
        version,
    )


def test_a_deleted_link_is_never_healed(careplan: Careplan) -> None:
    """Forge an event, delete its link and every later one: the next command used to
    re-link from the stored rows and verify then said intact. Now the plan refuses
    new entries, and verify names the break every time it runs."""
    plan = a_plan(careplan)
    forge_dose(careplan, plan)
    execute(
        careplan,
        "DELETE FROM careplan_event_chain WHERE originator_id = ? AND originator_version >= 3",
        "DELETE FROM careplan_event_chain WHERE originator_id = %s AND originator_version >= 3",
        key(careplan, plan),
    )
    for _ in range(2):
        with pytest.raises(ChainBroken):
            careplan.app.record_adherence(plan, adherence="taking_as_prescribed", ctx=ctx())
        assert findings(careplan) == [(plan, 3, "unchained"), (plan, 4, "unchained")]


def relink_without_the_key(careplan: Careplan, plan: str, start: int) -> None:
    """Recompute the plan's links from ``start`` on, as anyone able to write the database
    could: plain SHA-256 (the key is not in the database)."""
    sqlite = careplan.views.is_sqlite
    ident = key(careplan, plan)
    with careplan.app.factory.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        param = "?" if sqlite else "%s"
        cursor.execute(
            f"SELECT originator_version, topic, state FROM {table(careplan)} "
            f"WHERE originator_id = {param} ORDER BY originator_version",
            (ident,),
        )
        rows = [list(r.values()) if isinstance(r, dict) else list(r) for r in cursor.fetchall()]
        cursor.execute(
            f"SELECT link FROM careplan_event_chain WHERE originator_id = {param} "
            f"AND originator_version = {param}",
            (ident, start - 1),
        )
        found = cursor.fetchone()
        previous = (
            GENESIS
            if start == 1
            else str(
                next(iter(dict(found).values())) if isinstance(found, dict) else found[0]
            ).strip()
        )
        for version, topic, state in rows:
            if version < start:
                continue
            previous = link(previous, plan, int(version), str(topic), bytes(state))
            cursor.execute(
                f"UPDATE careplan_event_chain SET link = {param} "
                f"WHERE originator_id = {param} AND originator_version = {param}",
                (previous, ident, version),
            )


def test_a_chain_recomputed_without_the_key_is_detected(careplan: Careplan) -> None:
    plan = a_plan(careplan)
    forge_dose(careplan, plan)
    relink_without_the_key(careplan, plan, start=3)
    assert findings(careplan) == [(plan, 3, "unkeyed"), (plan, 4, "unkeyed")]


def test_a_whole_chain_recomputed_without_the_key_is_refused_when_every_plan_must_be_keyed(
    careplan: Careplan,
) -> None:
    """Recomputed from version 1, the chain looks like one from before the key: verify
    counts it, and an auditor of a store keyed from its start requires none."""
    plan = a_plan(careplan)
    forge_dose(careplan, plan)
    relink_without_the_key(careplan, plan, start=1)
    checked = verify(careplan.app)
    assert (checked.intact, checked.unkeyed_plans) == (True, 1)
    strict = verify(careplan.app, require_keyed=True)
    assert [(f.plan_id, f.what) for f in strict.findings] == [(plan, "unkeyed")]


def test_backfill_chains_dormant_plans_and_leaves_partial_chains_alone(
    careplan: Careplan,
) -> None:
    dormant, damaged = a_plan(careplan, "pt-old"), a_plan(careplan, "pt-damaged")
    unchain(careplan, dormant)
    execute(
        careplan,
        "DELETE FROM careplan_event_chain WHERE originator_id = ? AND originator_version = 2",
        "DELETE FROM careplan_event_chain WHERE originator_id = %s AND originator_version = 2",
        key(careplan, damaged),
    )
    assert backfill(careplan.app) == 1
    assert findings(careplan) == [(damaged, 2, "unchained")]


def test_any_bytes_and_topic_are_stored_exactly_and_chained(careplan: Careplan) -> None:
    """The events travel to PostgreSQL as array literals: quotes, backslashes,
    braces, commas, blanks, NUL and bytes that are no UTF-8 must come back as sent,
    in order, each with its notification id and link."""
    recorder = careplan.app.recorder
    plan = uuid4()
    awkward = [
        b'{"note": "say \\"hi\\", {x}"}',
        b"\\x41 \\\\ , } { \x00 \xff\xfe",
        b"",
    ]
    topics = ['domain.care_plan:Odd "quoted", {braced}', "a\\b c", "plain:Topic"]
    stored = [
        StoredEvent(plan, version, topic, state)
        for version, (topic, state) in enumerate(zip(topics, awkward, strict=True), start=1)
    ]
    ids = recorder.insert_events(stored)
    assert ids is not None
    assert len(ids) == 3
    assert list(ids) == sorted(ids)
    back = recorder.select_events(plan)
    assert [(e.originator_version, e.topic, bytes(e.state)) for e in back] == [
        (s.originator_version, s.topic, s.state) for s in stored
    ]
    chained = verify(careplan.app, str(plan))
    assert (chained.intact, chained.events, len(chained.heads)) == (True, 3, 1)
