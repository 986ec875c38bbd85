"""What marking an entry in error undoes, decided when the correction is made.

An entry marked in error stays in the history; its effect on the plan goes. The
aggregate keeps no history, so what the plan returns to (the previous dose, the
status before a stop, the date before a rescheduling) is worked out here, from
the entry itself and the plan as it stands, and stored on the correction as
``restores``. Views apply the same ``restores`` without reading history.

Only the latest change of a thing can be undone: undoing an older dose change
under a newer one would leave a dose nobody chose, so the newer one must be
marked in error first (``entry.superseded``). An acknowledgement in error makes
its warning wait again; warnings raised by an entry in error stop waiting. An
entry that only adds to the record (a measurement, a side effect, a referral)
is marked and has nothing to undo: views that count it skip entries in error.
"""

from __future__ import annotations

from typing import Any

from domain.errors import RuleViolation
from domain.follow_ups import FollowUp
from domain.prescribing import Prescription
from domain.safety import Finding

# The event types whose effect on state a correction reverses, and what it restores.
FOLLOW_UP_OUTCOMES = {
    "FollowUpCompleted": "completed",
    "FollowUpMissed": "missed",
    "FollowUpCancelled": "cancelled",
}


def restores_for(
    entry: Any,
    prescriptions: dict[str, Prescription],
    follow_ups: dict[str, FollowUp],
    acknowledged: dict[tuple[str, str], Finding],
) -> dict[str, Any]:
    """What the plan returns to when ``entry`` (a stored event of it) is marked in error."""
    kind = type(entry).__name__
    restores = _undo(kind, entry, prescriptions, follow_ups, acknowledged)
    if getattr(entry, "warnings", None) and kind != "MedicationPrescribed":
        # What never happened raised no warning: they stop waiting.
        restores["withdrawn_warnings"] = [w.code for w in entry.warnings]
    return restores


def _undo(
    kind: str,
    entry: Any,
    prescriptions: dict[str, Prescription],
    follow_ups: dict[str, FollowUp],
    acknowledged: dict[tuple[str, str], Finding],
) -> dict[str, Any]:
    if kind == "SafetyWarningAcknowledged":
        key = (entry.subject_id, entry.code)
        _require_latest(key in acknowledged, entry, "warning")
        return {"warning": acknowledged[key]}
    if kind == "DoseChanged":
        return _dose_change(entry, prescriptions[entry.prescription_id])
    if kind == "MedicationDiscontinued":
        return _discontinuation(entry, prescriptions)
    if kind == "TaperStarted":
        return _taper(entry, prescriptions[entry.prescription_id])
    if kind in FOLLOW_UP_OUTCOMES:
        follow_up = follow_ups[entry.follow_up_id]
        _require_latest(follow_up.status == FOLLOW_UP_OUTCOMES[kind], entry, "follow-up")
        return {"status": "scheduled"}
    if kind == "FollowUpRescheduled":
        return _rescheduling(entry, follow_ups[entry.follow_up_id])
    if kind == "MedicationReviewed":
        return _review(entry, prescriptions[entry.prescription_id])
    return {}


def _review(entry: Any, rx: Prescription) -> dict[str, Any]:
    """A review in error: the review it replaced comes due again."""
    _require_latest(
        bool(rx.review_versions) and rx.review_versions[-1] == entry.originator_version,
        entry,
        "review",
    )
    return {"review_due_on": entry.previous_due_on}


def _dose_change(entry: Any, rx: Prescription) -> dict[str, Any]:
    _require_latest(
        rx.is_active and rx.dose_history[-1][0] == entry.originator_version, entry, "dose"
    )
    _, previous = rx.dose_history[-2]
    restores: dict[str, Any] = {"dose": previous}
    if entry.taper_step is not None:  # the step it took is to be taken again
        restores["taper_steps_taken"] = entry.taper_step - 1
    return restores


def _discontinuation(entry: Any, prescriptions: dict[str, Prescription]) -> dict[str, Any]:
    rx = prescriptions[entry.prescription_id]
    _require_latest(rx.status == "discontinued", entry, "prescription")
    taken_again = [
        other.prescription_id
        for other in prescriptions.values()
        if other.drug == rx.drug and other.is_active
    ]
    if taken_again:
        raise RuleViolation(
            "entry.conflicts",
            f"{rx.drug} has been prescribed again since ({', '.join(taken_again)}); "
            "stop or correct that prescription before undoing this stop.",
        )
    return {"status": "tapering" if rx.taper else "active"}


def _taper(entry: Any, rx: Prescription) -> dict[str, Any]:
    _require_latest(rx.status == "tapering", entry, "prescription")
    if rx.taper_steps_taken:
        raise RuleViolation(
            "entry.superseded",
            f"{rx.taper_steps_taken} step(s) of this taper were taken; "
            "mark those dose changes in error first.",
        )
    return {"status": "active"}


def _rescheduling(entry: Any, follow_up: FollowUp) -> dict[str, Any]:
    history = follow_up.schedule_history
    _require_latest(
        follow_up.is_pending and history[-1][0] == entry.originator_version, entry, "follow-up"
    )
    _, due_on, modality = history[-2]
    return {"due_on": due_on, "modality": modality}


def _require_latest(latest: bool, entry: Any, what: str) -> None:
    if not latest:
        raise RuleViolation(
            "entry.superseded",
            f"Entry {entry.originator_version} is no longer the latest change of its {what}; "
            "mark the later changes in error first.",
        )
