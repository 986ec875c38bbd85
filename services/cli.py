"""The ``careplan`` command: serve the API, run projections or the Kafka relay,
play a demo course, and mint development tokens.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Annotated

import structlog
import typer
from kafka import KafkaProducer
from rich.console import Console
from rich.table import Table

from projections.audit_trail import audit_entries
from projections.current_medications import active_medications
from services.audit_cli import audit
from services.bootstrap import PROJECTIONS, Careplan, bootstrap
from services.consumer_cli import consume
from services.demo import play_course
from services.gc_pause import tune_for_serving
from services.logging import configure_logging
from services.publisher import Relay, ensure_topic, make_producer
from services.rebuilding import rebuild_views
from services.relay_status import status
from services.republish import republish
from services.schema_cli import schemas
from services.settings import Settings
from services.signals import run_until_signalled
from services.snapshot_cli import snapshots
from services.tokens import EVERY_PLAN, TokenError, issue_token

cli = typer.Typer(
    help="Careplan: event-sourced psychiatric medication care plans.", no_args_is_help=True
)
cli.add_typer(audit, name="audit")
cli.add_typer(snapshots, name="snapshots")
console = Console()
errors = Console(stderr=True)
log = structlog.get_logger("careplan.cli")


def start(settings: Settings | None = None) -> Careplan:
    settings = settings or Settings()
    configure_logging(settings.effective_log_format, settings.log_level)
    return bootstrap(settings)


@cli.command()
def serve() -> None:
    """Serve the HTTP API (CAREPLAN_HOST, CAREPLAN_PORT)."""
    # Imported here: the web stack takes a second to import, which every other
    # command (a relay restarted after a crash above all) would otherwise pay.
    import uvicorn  # noqa: PLC0415

    from services.api.app import create_app  # noqa: PLC0415

    careplan = start()
    app = create_app(careplan)
    tune_for_serving()
    settings = careplan.settings
    store = "postgresql" if settings.uses_postgres else f"sqlite:{settings.sqlite_path}"
    log.info("careplan.serving", host=settings.host, port=settings.port, store=store)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,  # no "server: uvicorn": the software is not advertised
    )


project_cli = typer.Typer(help="Run or rebuild the projections (the views).")
cli.add_typer(project_cli, name="project")


@project_cli.callback(invoke_without_command=True)
def project(
    context: typer.Context,
    until_idle: Annotated[bool, typer.Option(help="Catch up once and exit.")] = False,
) -> None:
    """Run the projection followers as their own process (CAREPLAN_PROJECTIONS=external)."""
    if context.invoked_subcommand is not None:
        return
    careplan = start()
    try:
        if until_idle:
            for follower in careplan.followers.values():
                applied = follower.catch_up()
                console.print(
                    f"{follower.name}: {applied} events applied, at {follower.position()}"
                )
            return
        careplan.start_followers()
        run_until_signalled(lambda stop: stop.wait())
    finally:
        careplan.close()


@project_cli.command("rebuild")
def rebuild(
    name: Annotated[
        str | None, typer.Argument(help="The view to rebuild (default: every one).")
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="Discard a rebuild left unfinished and start from zero.")
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=10_000,
            help="Events per transaction; large batches cost fewer round trips and commits.",
        ),
    ] = 5000,
) -> None:
    """Rebuild views into fresh tables while the old ones serve, then switch.

    Ctrl-C stops after the batch in hand; running the command again resumes.
    """
    known = {projection.name: projection for projection in PROJECTIONS}
    if name is not None and name not in known:
        errors.print(f"[red]No view {name!r}; the views are: {', '.join(known)}.[/red]")
        raise typer.Exit(2)
    chosen = [known[name]] if name else list(known.values())
    careplan = start()
    try:
        finished = run_until_signalled(
            lambda stop: rebuild_views(
                careplan, chosen, stop, console, batch_size=batch_size, restart=restart
            )
        )
    finally:
        careplan.close()
    if not finished:
        raise typer.Exit(130)


# `careplan relay` publishes (as it always has); `careplan relay status` reports its lag.
relay_commands = typer.Typer()
cli.add_typer(relay_commands, name="relay")
relay_commands.command()(status)


@relay_commands.callback(invoke_without_command=True)
def relay(
    ctx: typer.Context,
    until_idle: Annotated[bool, typer.Option(help="Publish what is stored, then exit.")] = False,
    from_position: Annotated[
        int | None,
        typer.Option(
            "--from",
            min=1,
            help="Republish from this notification id on, then exit; records no position.",
        ),
    ] = None,
    topic: Annotated[
        str | None, typer.Option(help="With --from: where to (default CAREPLAN_KAFKA_TOPIC).")
    ] = None,
) -> None:
    """Publish every stored event to Kafka (KAFKA_BOOTSTRAP_SERVERS), resuming where it stopped."""
    if ctx.invoked_subcommand is not None:
        return
    if topic is not None and from_position is None:
        errors.print(
            "[red]--topic goes with --from; the live relay uses CAREPLAN_KAFKA_TOPIC.[/red]"
        )
        raise typer.Exit(2)
    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        errors.print(
            "[red]Set KAFKA_BOOTSTRAP_SERVERS to the broker(s), e.g. 127.0.0.1:9092.[/red]"
        )
        raise typer.Exit(2)
    if from_position is not None:
        target = topic or settings.kafka_topic
        configure_logging(settings.effective_log_format, settings.log_level)
        done = run_until_signalled(
            lambda stop: republish(stop, settings, first=from_position, topic=target)
        )
        console.print(f"republished {done.count} events ({done.first}..{done.last}) to {target}")
        return
    # Start-up runs inside the loop's thread too: a stop while connecting is honoured.
    run_until_signalled(lambda stop: relay_until(stop, settings, until_idle=until_idle))


def relay_until(stop: threading.Event, settings: Settings, *, until_idle: bool) -> int:
    log.info("relay.starting")  # from here on a SIGTERM stops it cleanly
    careplan = start(settings)
    try:
        servers = settings.kafka_bootstrap_servers or ""

        def connect() -> KafkaProducer:
            """The topic (again, should a broker have come back without it) and a producer."""
            ensure_topic(
                servers,
                settings.kafka_topic,
                partitions=settings.kafka_partitions,
                replication_factor=settings.kafka_replication_factor,
            )
            return make_producer(servers)

        publisher = Relay(
            recorder=careplan.app.recorder,
            mapper=careplan.app.mapper,
            tracking=careplan.views.tracking,
            producer=connect(),
            topic=settings.kafka_topic,
            source=settings.event_source,
            batch_size=settings.relay_batch_size,
            schema_base_uri=settings.schema_base_uri,
            reconnect=connect,
            send_timeout=settings.relay_send_timeout_seconds,
        )
        log.info("relay.started", topic=settings.kafka_topic, position=publisher.position())
        try:
            published = publisher.run(
                stop,
                poll_seconds=settings.relay_poll_seconds,
                until_idle=until_idle,
                on_error=None if until_idle else lambda e: log.error("relay.failed", error=str(e)),
            )
        finally:
            publisher.close()
        log.info("relay.stopped", published=published, position=publisher.position())
        return published
    finally:
        careplan.close()


@cli.command()
def demo(
    patient_id: Annotated[str | None, typer.Option(help="Patient id to use.")] = None,
) -> None:
    """Play a short treatment course and print its medications and audit trail."""
    careplan = start()
    try:
        plan_id = play_course(careplan.app, patient_id or f"demo-{uuid.uuid4().hex[:8]}")
        console.print(f"Care plan [bold]{plan_id}[/bold]")
        console.print(medications_table(careplan, str(plan_id)))
        console.print(audit_table(careplan, str(plan_id)))
    finally:
        careplan.close()


def medications_table(careplan: Careplan, plan_id: str) -> Table:
    table = Table(
        "drug", "dose", "frequency", "route", "since", "prescriber", title="Current medications"
    )
    for row in active_medications(careplan.views, plan_id):
        table.add_row(
            row["drug"],
            f"{row['dose_amount']} {row['dose_unit']}",
            row["frequency"],
            row["route"],
            row["started_at"][:10],
            row["prescriber_id"],
        )
    return table


def audit_table(careplan: Careplan, plan_id: str) -> Table:
    table = Table("v", "occurred", "recorded", "who", "what", title="Audit trail")
    rows, _ = audit_entries(careplan.views, care_plan_id=plan_id, limit=500)
    for row in rows:
        table.add_row(
            str(row["version"]),
            row["occurred_at"][:10],
            row["recorded_at"][:19],
            f"{row['actor_id']} ({row['actor_role']})",
            row["summary"],
        )
    return table


@cli.command()
def token(
    sub: Annotated[str, typer.Option(help="Actor id (the token subject).")],
    role: Annotated[str, typer.Option(help="prescriber, clinician, auditor, service or admin.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    profession: Annotated[
        str | None,
        typer.Option(help="psychiatrist, psychiatric_np, physician_assistant or primary_care."),
    ] = None,
    supervisor: Annotated[
        str | None, typer.Option(help="Supervising psychiatrist (physician assistants).")
    ] = None,
    ttl_hours: Annotated[float, typer.Option(help="Lifetime in hours.")] = 8.0,
    care_team: Annotated[
        list[str] | None,
        typer.Option(help="A care plan id the caller may see (repeat); default every plan, '*'."),
    ] = None,
) -> None:
    """Print a signed development token (HS256 with CAREPLAN_JWT_SECRET)."""
    settings = Settings()
    try:
        signed = issue_token(
            settings.resolved_jwt_secret(),
            sub=sub,
            role=role,
            name=name,
            extra={
                key: value
                for key, value in (("profession", profession), ("supervisor_id", supervisor))
                if value
            },
            ttl=timedelta(hours=ttl_hours),
            care_team=care_team or [EVERY_PLAN],
        )
    except TokenError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    typer.echo(signed)


cli.command()(schemas)
cli.command()(consume)


def main() -> None:
    cli()
