"""The one place that wires Careplan: settings → application → views → followers.

The API, the CLI and the tests all call ``bootstrap``; only the settings differ.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from eventsourcing.persistence import TrackingRecorder
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from domain.formulary import load_formulary
from domain.regulations import load_regulations
from projections.audit_trail import AuditTrail
from projections.current_medications import CurrentMedications
from projections.lag import ViewsBehind
from projections.notifier import LogNotifier
from projections.outcomes import Outcomes
from projections.runner import ProjectionFollower
from projections.store import ViewStore
from projections.timeline import MedicationTimeline
from projections.together import WithTheWrite, catch_up_together
from projections.versions import PlanVersions
from projections.worklist import Worklist, plans_of_patient
from services.application import CarePlans, CommandResult
from services.idempotency import IdempotencyKeys
from services.on_the_loop import refuse_blocking
from services.settings import Settings
from services.store import persistence_env

log = structlog.get_logger(__name__)

# Every view follows the log and is brought up to date before a command returns.
PROJECTIONS = (CurrentMedications, AuditTrail, PlanVersions, MedicationTimeline, Worklist, Outcomes)
TRACKING_TABLE = "careplan_tracking"


@dataclass
class Careplan:
    """A running Careplan: the application, its views, and their followers."""

    settings: Settings
    app: CarePlans
    views: ViewStore
    followers: dict[str, ProjectionFollower]
    idempotency: IdempotencyKeys
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    #: On PostgreSQL, rings the followers when the log grows (see projections.notifier).
    notifier: LogNotifier | None = None
    #: Every view includes the log up to here once the writing transaction commits
    #: (ids of a transaction that rolls back are never reused on PostgreSQL).
    _views_through: int = 0

    @property
    def runs_projections(self) -> bool:
        return self.settings.projections == "inprocess"

    def make_visible(self, result: CommandResult) -> None:
        """Read-your-writes: return only once every view reflects the command."""
        if result.position is None:
            return
        if not self.runs_projections:
            for follower in self.followers.values():
                if not follower.wait_for(
                    result.position, self.settings.read_your_writes_timeout_seconds
                ):
                    log.warning(
                        "projection.behind", projection=follower.name, position=result.position
                    )
            return
        # The command is stored and stays stored whatever a view does: answering 500
        # would invite a retry that repeats it. A view that fails is behind, loudly,
        # until fixed.
        try:
            left = catch_up_together(list(self.followers.values()), result.position, to_head=True)
        except Exception:
            log.exception("projection.catch_up_failed")
            left = dict.fromkeys(self.followers)
        for name, error in left.items():
            if error is not None:
                log.error("projection.failed", projection=name, exc_info=error)
                continue
            try:
                self.followers[name].catch_up()
            except Exception:
                log.exception("projection.failed", projection=name)

    def plans_of_patient(self, patient_id: str) -> list[dict[str, Any]]:
        """A patient's plans as the worklist view knows them, brought up to the log's
        head first: a plan another process opened a moment ago counts too."""
        worklist = self.followers[Worklist.name]
        head = self.app.recorder.max_notification_id() or 0
        if self.runs_projections:
            worklist.catch_up()
        elif not worklist.wait_for(head, self.settings.read_your_writes_timeout_seconds):
            raise ViewsBehind(Worklist.name)
        return plans_of_patient(self.views, patient_id)

    def open_plans_of(self, patient_id: str) -> list[str]:
        return [
            p["care_plan_id"] for p in self.plans_of_patient(patient_id) if p["status"] == "open"
        ]

    def write_views(self, events: Sequence[Any]) -> WithTheWrite:
        """The views, to be written inside the events' own transaction
        (projections.together)."""
        return WithTheWrite(list(self.followers.values()), events, self._written_through)

    def _written_through(self, position: int) -> None:
        # Before the commit: the notification must not find it unset.
        self._views_through = max(self._views_through, position)

    def start_followers(self) -> None:
        """Follow the log in background threads (catches writes from other processes).

        They poll every ``projection_poll_seconds``; on PostgreSQL a NOTIFY from
        the writing transaction wakes them at once, so the poll can be slow.
        """
        for follower in self.followers.values():
            thread = threading.Thread(
                target=follower.run,
                args=(self._stop, self.settings.projection_poll_seconds),
                name=f"projection-{follower.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        recorder = self.app.recorder
        if isinstance(recorder, PostgresApplicationRecorder) and self.notifier is None:
            self.notifier = LogNotifier(recorder, self.wake_followers)
            self.notifier.start()

    def wake_followers(self, position: int | None = None) -> None:
        """Ring the followers, unless the views were written with that event (by this
        process, in the events' own transaction): then nothing is left to read."""
        if position is not None and position <= self._views_through:
            return
        for follower in self.followers.values():
            follower.wake()

    def close(self) -> None:
        self._stop.set()
        if self.notifier is not None:
            self.notifier.close()
        for follower in self.followers.values():
            follower.wake()
        for thread in self._threads:
            thread.join(timeout=5)
        self.app.close()


def refuse_blocking_on_the_loop(datastore: Any) -> None:
    """Every way into the database (the events, the views, the keys share this
    datastore) fails loudly from a handler on the event loop (services.on_the_loop)."""
    for name in ("get_connection", "transaction"):
        setattr(datastore, name, refuse_blocking(getattr(datastore, name)))


def tracking_recorder(app: CarePlans) -> TrackingRecorder:
    """Positions live in the event store's database, so they commit with view rows."""
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    recorder: TrackingRecorder
    if isinstance(datastore, PostgresDatastore):
        recorder = PostgresTrackingRecorder(datastore, tracking_table_name=TRACKING_TABLE)
    elif isinstance(datastore, SQLiteDatastore):
        recorder = SQLiteTrackingRecorder(datastore)
    else:
        msg = f"unsupported event store {type(datastore).__name__}"
        raise TypeError(msg)
    recorder.create_table()
    return recorder


def bootstrap(settings: Settings | None = None) -> Careplan:
    settings = settings or Settings()
    chain_key = settings.resolved_chain_key()  # production without one: refused, here
    formulary = load_formulary(settings.formulary)  # refuses a bad file before anything starts
    regulations = load_regulations(settings.regulations)
    app = CarePlans(
        env=persistence_env(settings),
        formulary=formulary,
        regulations=regulations,
        snapshot_interval=settings.snapshot_interval,
    )
    refuse_blocking_on_the_loop(app.factory.datastore)  # type: ignore[attr-defined]
    app.recorder.chain_key = chain_key  # type: ignore[attr-defined]
    app.plan_snapshots.key = chain_key
    views = ViewStore(tracking_recorder(app))
    followers = {
        projection.name: ProjectionFollower(
            projection(), views, app.recorder, app.mapper, batch_size=settings.projection_batch_size
        )
        for projection in PROJECTIONS
    }
    keys = IdempotencyKeys(views, timedelta(hours=settings.idempotency_ttl_hours))
    careplan = Careplan(
        settings=settings, app=app, views=views, followers=followers, idempotency=keys
    )
    app.after_commit = careplan.make_visible
    app.open_plans_of = careplan.open_plans_of
    if careplan.runs_projections:
        app.views_with_the_events = careplan.write_views
    return careplan
