"""``careplan audit``: what auditors run against the event store itself.

Replay a plan to a point, export its whole record, verify the hash chains and
seal them; the store is read, never written. (Logs go to stderr, so the output
can be piped or redirected.)
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from domain.errors import DomainError
from services.bootstrap import Careplan, bootstrap
from services.chain.verify import backfill, verify
from services.export import export
from services.logging import configure_logging
from services.replay import document, replay
from services.settings import Settings

audit = typer.Typer(help="Replay, export, verify, seal: for auditors.", no_args_is_help=True)
errors = Console(stderr=True)


def _careplan() -> Careplan:
    settings = Settings()
    configure_logging(settings.effective_log_format, "WARNING")
    return bootstrap(settings)


def _moment(text: str) -> datetime:
    """ISO 8601 with a zone (a bare Z included): a time without one is ambiguous."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give the time with its zone, e.g. 2026-03-02T09:00:00Z")
    return moment


@audit.command("replay")
def replay_command(
    plan: Annotated[str, typer.Argument(help="Care plan id.")],
    version: Annotated[int | None, typer.Option(help="The plan at this version.")] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            parser=_moment,
            help="Recording time (ISO with zone): the record as it was known then.",
        ),
    ] = None,
    clinical_as_of: Annotated[
        datetime | None,
        typer.Option(
            parser=_moment,
            help="Clinical time (ISO with zone): the treatment as it was, late entries included.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The plan's state at one point and the events that led there."""
    careplan = _careplan()
    try:
        result = replay(
            careplan.app, plan, version=version, known_at=as_of, clinical_at=clinical_as_of
        )
    except DomainError as error:
        errors.print(f"[red]{error.code}: {error.message}[/red]")
        raise typer.Exit(2) from None
    finally:
        careplan.close()
    body = document(result)
    if as_json:
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    _print_state(body)


@audit.command("verify")
def verify_command(
    plan: Annotated[str | None, typer.Option(help="Check one plan only.")] = None,
    against: Annotated[
        str | None, typer.Option(help="A seal printed earlier: prove nothing changed since.")
    ] = None,
    require_keyed: Annotated[
        bool,
        typer.Option(
            "--require-keyed",
            help="Every plan's chain must carry a keyed link (a store keyed from its start).",
        ),
    ] = False,
) -> None:
    """Recompute the hash chains under the chain key and check the snapshots' seals;
    name every plan and version altered, missing, moved, unkeyed or forged. Exits 1
    when anything is wrong (or the seal differs), 0 when all is intact."""
    careplan = _careplan()
    try:
        result = verify(careplan.app, plan, require_keyed=require_keyed)
    finally:
        careplan.close()
    for finding in result.findings:
        typer.echo(str(finding))
    summary = f"{result.plans} plan(s), {result.events} event(s) checked"
    if result.unkeyed_plans:
        summary += (
            f"; {result.unkeyed_plans} plan(s) chained before the chain had a key (covered by "
            "the key from their next event on, and by a seal kept outside)"
        )
    if not result.intact:
        typer.echo(f"TAMPERED: {len(result.findings)} finding(s); {summary}")
        raise typer.Exit(1)
    if against is not None and plan is None and result.seal != against.strip():
        typer.echo(f"CHANGED since the seal: now {result.seal}; {summary}")
        raise typer.Exit(1)
    typer.echo(f"intact: {summary}" + (" and matching the seal" if against else ""))


@audit.command("backfill")
def backfill_command() -> None:
    """Chain the plans stored before the hash chain existed (run once after upgrading,
    then take a seal). Until then such a plan takes no new events (chain.broken)."""
    careplan = _careplan()
    try:
        count = backfill(careplan.app)
    finally:
        careplan.close()
    typer.echo(f"chained {count} plan(s) that had no links")


@audit.command("seal")
def seal_command() -> None:
    """Print one line standing for every chain; keep it outside the system, then
    ``verify --against`` it later."""
    careplan = _careplan()
    try:
        result = verify(careplan.app)
    finally:
        careplan.close()
    if not result.intact:
        for finding in result.findings:
            errors.print(str(finding))
        errors.print("[red]Not sealing a store whose chains are broken.[/red]")
        raise typer.Exit(1)
    typer.echo(result.seal)


@audit.command("export")
def export_command(
    plan: Annotated[str, typer.Argument(help="Care plan id.")],
    format: Annotated[Literal["fhir", "json", "csv"], typer.Option()] = "fhir",
    output: Annotated[Path | None, typer.Option("-o", help="File (default stdout).")] = None,
) -> None:
    """The plan's whole record: FHIR R4B Bundle, JSON, or CSV."""
    careplan = _careplan()
    try:
        _, body = export(careplan.app, plan, format)
    except DomainError as error:
        errors.print(f"[red]{error.code}: {error.message}[/red]")
        raise typer.Exit(2) from None
    finally:
        careplan.close()
    if output is None:
        sys.stdout.write(body + ("" if body.endswith("\n") else "\n"))
    else:
        output.write_text(body)


def _print_state(body: dict) -> None:  # type: ignore[type-arg]
    console = Console()
    if not body["exists"]:
        console.print(f"[bold]The care plan did not exist yet {body['question']}.[/bold]")
        return
    heading = f"Care plan {body['question']}: version {body['version']}, {body['status']}"
    console.print(f"[bold]{heading}[/bold]")
    medications = Table("drug", "dose", "frequency", "status", "since", title="Medications")
    for m in body["medications"]:
        dose = f"{m['dose']['amount']} {m['dose']['unit']}"
        medications.add_row(m["drug"], dose, m["frequency"], m["status"], m["started_at"])
    console.print(medications)
    follow_ups = Table("due", "modality", title="Open follow-ups")
    for f in body["open_follow_ups"]:
        follow_ups.add_row(f["due_on"], f["modality"])
    console.print(follow_ups)
    acknowledged = Table("code", "by", "justification", title="Acknowledged warnings")
    for a in body["acknowledged_warnings"]:
        acknowledged.add_row(a["code"], a["by"], a["justification"])
    console.print(acknowledged)
    events = Table("v", "type", "occurred", "recorded", "by", "summary", title="Events")
    for e in body["events"]:
        events.add_row(
            str(e["version"]),
            e["type"],
            e["occurred_at"],
            e["recorded_at"],
            e["actor"],
            e["summary"],
        )
    console.print(events)
