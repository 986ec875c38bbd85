"""``careplan snapshots``: the replay cache, for operators and auditors.

Snapshots are not evidence: the events are. These commands rebuild them from the
events, check them against the events, or clear them; none touches an event.
"""

from __future__ import annotations

from typing import Annotated

import typer

from domain.care_plan import care_plan_id
from services.bootstrap import Careplan, bootstrap
from services.logging import configure_logging
from services.settings import Settings
from services.snapshots.rebuild import check, rebuild

snapshots = typer.Typer(
    help="The snapshot cache of replay: rebuild, check, clear.", no_args_is_help=True
)
PlanOption = Annotated[str | None, typer.Option("--plan", help="One care plan only.")]


def _careplan() -> Careplan:
    settings = Settings()
    configure_logging(settings.effective_log_format, "WARNING")
    return bootstrap(settings)


@snapshots.command("rebuild")
def rebuild_command(plan: PlanOption = None) -> None:
    """Clear, then take again from the events, a snapshot every CAREPLAN_SNAPSHOT_INTERVAL
    events (after an upgrade, or once for plans stored before snapshots existed)."""
    careplan = _careplan()
    try:
        plans, taken = rebuild(careplan.app, care_plan_id(plan) if plan else None)
    finally:
        careplan.close()
    typer.echo(f"{taken} snapshot(s) of {plans} plan(s) taken from their events")


@snapshots.command("check")
def check_command(plan: PlanOption = None) -> None:
    """Fold every plan's events and compare each snapshot with the plan at its version.
    Exits 1 when any differs: a replay ignores an unreadable one but would trust one
    that decodes, so clear or rebuild them."""
    careplan = _careplan()
    try:
        result = check(careplan.app, care_plan_id(plan) if plan else None)
    finally:
        careplan.close()
    for plan_id, version, problem in result.wrong:
        typer.echo(f"{plan_id} v{version}: {problem}")
    summary = f"{result.snapshots} snapshot(s) of {result.plans} plan(s) checked"
    if result.wrong:
        typer.echo(f"WRONG: {len(result.wrong)}; {summary}")
        raise typer.Exit(1)
    typer.echo(f"all match their events: {summary}")


@snapshots.command("clear")
def clear_command(plan: PlanOption = None) -> None:
    """Delete the snapshots (replays then fold every event until they are taken again)."""
    careplan = _careplan()
    try:
        gone = careplan.app.plan_snapshots.store.clear(care_plan_id(plan) if plan else None)
    finally:
        careplan.close()
    typer.echo(f"{gone} snapshot(s) deleted")
