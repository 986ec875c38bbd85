"""Replay a care plan to a point, for auditors: by version, as it was known, or as
it was clinically.

Two times live on every event: ``occurred_at``, when it happened (clinical time,
entered by the clinician, may be in the past) and ``timestamp``, when it was
recorded. They answer different questions:

- *As it was known at T* (``known_at``): the record exactly as anyone reading it
  at T saw it: every event recorded by T, in order, corrections made by T
  included. This is what a decision taken at T could have been based on.
- *As it was on D* (``clinical_at``): the best account today of the patient's
  treatment on D: every event that happened by D, however late it was entered,
  and without the entries that have since been marked in error (a correction
  says they never happened, whenever it was made).

A late entry (a dose change on Monday, entered on Friday) is in the clinical view
of Tuesday but not in the known view of Tuesday; a wrong prescription corrected
on Friday is in the known view of Tuesday but not in the clinical view.

Speed. By version, the plan is folded from the newest snapshot at or below it
(``services.snapshots``) and only the page of events asked for is read besides.
Known-at and clinical replays filter on times that live inside each stored
event (the events table, the library's and append-only, has no column for
them), and a clinical replay leaves out and reorders events, so no snapshot's
state is theirs: they decode every event of the plan, which is the cost of one
version replay without snapshots (about 15 ms of CPU for 1,000 events; see
``bench/replay.py``). A faster path would need those times indexed outside the
events, which an auditor's answer should not depend on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.care_plan import CarePlan
from domain.errors import InvalidValue
from projections.audit_trail import summarise
from services.application import CarePlans
from services.gc_pause import collector_paused

#: Where "now" is asked as a version: above any plan's last.
_LATEST = 2**62


@dataclass(frozen=True)
class Replay:
    """The plan at a point, and the events that led there (all, or the page asked for)."""

    question: str
    plan: CarePlan | None  # None: the plan did not exist yet at that point
    events: list[CarePlan.Event]
    #: How many events led there, whatever the page holds.
    events_total: int = 0
    #: The ``events_before`` of the page before this one; None when this is the first.
    earlier: int | None = None


def replay(
    app: CarePlans,
    plan_id: UUID | str,
    *,
    version: int | None = None,
    known_at: datetime | None = None,
    clinical_at: datetime | None = None,
    events_limit: int | None = None,
    events_before: int | None = None,
) -> Replay:
    """Exactly one of ``version``, ``known_at``, ``clinical_at`` (none: now). The events
    that led there are all returned unless ``events_limit`` asks for the last ones
    (before version ``events_before``): a plan's state at a version is then found
    from a snapshot and a few events, without reading the whole record."""
    if events_limit is not None and events_limit < 1:
        raise InvalidValue("replay.invalid_limit", "Ask for at least one event.")
    with collector_paused():
        return _replay(app, plan_id, version, known_at, clinical_at, events_limit, events_before)


def _replay(
    app: CarePlans,
    plan_id: UUID | str,
    version: int | None,
    known_at: datetime | None,
    clinical_at: datetime | None,
    limit: int | None,
    before: int | None,
) -> Replay:
    given = [name for name, value in _points(version, known_at, clinical_at) if value is not None]
    if len(given) > 1:
        raise InvalidValue(
            "replay.one_point", f"Give one of version, as_of, clinical_as_of; not {given}."
        )
    if version is not None:
        if version < 1:
            raise InvalidValue("replay.invalid_version", "Versions start at 1.")
        return _at_version(app, plan_id, version, f"at version {version}", limit, before)
    if known_at is None and clinical_at is None:
        return _at_version(app, plan_id, _LATEST, "now", limit, before)
    # Both need every event's time, which is inside its stored state: all are read.
    history = list(app.history(plan_id))
    if known_at is not None:
        _require_zone(known_at)
        chosen = [e for e in history if e.timestamp <= known_at]
        return _paged(
            f"as known at {known_at.isoformat()}", _fold(chosen)[0], chosen, limit, before
        )
    assert clinical_at is not None
    _require_zone(clinical_at)
    corrections = [e for e in history if isinstance(e, CarePlan.EntryMarkedInError)]
    in_error = {e.entry_version for e in corrections}
    # What never was: prescriptions and follow-ups entered in error, and all about them.
    never = {
        e.subject_id
        for e in corrections
        if e.entry_type in ("MedicationPrescribed", "FollowUpScheduled")
    }
    chosen = [
        e
        for e in history
        if e.occurred_at <= clinical_at
        and e.originator_version not in in_error
        and not isinstance(e, CarePlan.EntryMarkedInError)
        and not ({_subject(e), getattr(e, "prescription_id", None)} & never)
    ]
    plan, applied = _fold(chosen, clinical=True)
    return _paged(f"as it was on {clinical_at.isoformat()}", plan, applied, limit, before)


def _at_version(
    app: CarePlans,
    plan_id: UUID | str,
    version: int,
    question: str,
    limit: int | None,
    before: int | None,
) -> Replay:
    """Every event up to the version led there, so the page is a range of versions:
    the events folded after the snapshot are reused, and only the rest of the page
    is read."""
    plan, read = app.state_at(plan_id, version, also=_page(version, limit, before))
    top = plan.version
    wanted = _page(top, limit, before)  # the same, unless the version was beyond the last
    page = [e for e in read if e.originator_version in wanted]
    first_read = read[0].originator_version if read else top + 1
    if wanted and wanted.start < first_read:
        earlier = app.history(
            plan_id, up_to=min(wanted.stop, first_read) - 1, after=wanted.start - 1
        )
        page = [*earlier, *page]
    return Replay(question, plan, page, top, wanted.start if wanted.start > 1 else None)


def _page(top: int, limit: int | None, before: int | None) -> range:
    """The versions of the page: the last ``limit`` up to ``top``, before ``before``."""
    upper = top if before is None else max(0, min(top, before - 1))
    lower = 0 if limit is None else max(0, upper - limit)
    return range(lower + 1, upper + 1)


def _paged(
    question: str,
    plan: CarePlan | None,
    events: list[CarePlan.Event],
    limit: int | None,
    before: int | None,
) -> Replay:
    kept = [e for e in events if before is None or e.originator_version < before]
    page = kept if limit is None else kept[-limit:]
    earlier = page[0].originator_version if len(page) < len(kept) else None
    return Replay(question, plan, page, len(events), earlier)


def _fold(
    events: list[CarePlan.Event], *, clinical: bool = False
) -> tuple[CarePlan | None, list[CarePlan.Event]]:
    """Apply the chosen events in recorded order. A clinical replay skips some, so
    the version check of ``mutate`` is satisfied by stepping the version first, and
    an event about a prescription or follow-up that did not exist yet on that day
    (dated before the order it changes) is left out rather than guessed at."""
    plan: CarePlan | None = None
    applied: list[CarePlan.Event] = []
    for event in events:
        if plan is not None:
            if clinical and not _about_something_present(plan, event):
                continue
            plan.version = event.originator_version - 1
        plan = event.mutate(plan)  # type: ignore[assignment]
        applied.append(event)
    return plan, applied


def _about_something_present(plan: CarePlan, event: CarePlan.Event) -> bool:
    if isinstance(event, CarePlan.MedicationPrescribed | CarePlan.FollowUpScheduled):
        return True
    prescription = getattr(event, "prescription_id", None)
    if prescription is not None and prescription not in plan.prescriptions:
        return False
    follow_up = getattr(event, "follow_up_id", None)
    return follow_up is None or follow_up in plan.follow_ups


def _subject(event: CarePlan.Event) -> str | None:
    value = getattr(event, "subject_id", None) or getattr(event, "follow_up_id", None)
    return value if isinstance(value, str) else None


def document(result: Replay) -> dict[str, Any]:
    """The replayed state as auditors read it (JSON-ready). Built with the collector
    paused too: with every event of a long plan still alive, a collection here would
    walk them all, and move them to the generation that full collections walk."""
    with collector_paused():
        return _document(result)


def _document(result: Replay) -> dict[str, Any]:
    plan = result.plan
    acknowledged = [
        {"subject_id": subject, "code": code, "justification": why, "by": by, "at": at.isoformat()}
        for subject, code, why, by, at in (plan.acknowledgement_log if plan else [])
    ]
    return {
        "question": result.question,
        "exists": plan is not None,
        "version": plan.version if plan else 0,
        "status": plan.status if plan else None,
        "medications": [
            {
                "prescription_id": rx.prescription_id,
                "drug": rx.drug,
                "dose": {"amount": format(rx.dose.amount, "f"), "unit": rx.dose.unit},
                "frequency": rx.frequency,
                "route": rx.route,
                "status": rx.status,
                "started_at": rx.started_at.isoformat(),
            }
            for rx in (plan.active_prescriptions if plan else [])
        ],
        "open_follow_ups": [
            {"follow_up_id": f.follow_up_id, "due_on": f.due_on.isoformat(), "modality": f.modality}
            for f in (plan.follow_ups.values() if plan else [])
            if f.is_pending
        ],
        "pending_acknowledgements": [
            {"subject_id": subject, "code": code}
            for subject, code in (plan.pending_acknowledgements if plan else {})
        ],
        "acknowledged_warnings": acknowledged,
        "events_total": result.events_total,
        "earlier_events_before": result.earlier,
        "events": [
            {
                "version": e.originator_version,
                "type": type(e).__name__,
                "occurred_at": e.occurred_at.isoformat(),
                "recorded_at": e.timestamp.isoformat(),
                "actor": e.actor.id,
                "summary": summarise(e),
            }
            for e in result.events
        ],
    }


def _points(*values: object) -> list[tuple[str, object]]:
    return list(zip(("version", "as_of", "clinical_as_of"), values, strict=True))


def _require_zone(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise InvalidValue("time.naive", "Give the time with its zone, e.g. 2026-03-02T09:00Z.")
