"""The rules of record keeping, as pure functions: who is on the care team, which
entries can be marked in error, and when a plan may be closed.

Each raises a domain error with a stable code; the ``RecordKeeping`` part calls
them before it records anything, so a refused command leaves no event behind.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any

from domain.errors import InvalidValue, NotFound, RuleViolation
from domain.values import Actor

# Therapy is coordinated alongside medication (APA practice guidelines: combined treatment).
THERAPIES = frozenset({"cbt", "dbt", "ipt", "emdr", "family_therapy", "group_therapy", "other"})
REFERRAL_URGENCIES = frozenset({"routine", "soon", "urgent"})

CARE_TEAM_ROLES = frozenset(
    {
        "prescriber",
        "psychiatrist",
        "psychiatric_np",
        "physician_assistant",
        "primary_care",
        "therapist",
        "nurse",
        "care_coordinator",
        "pharmacist",
    }
)
CARE_TEAM_CHANGES = frozenset({"joined", "left"})
# A physician assistant works under a named supervising psychiatrist (state PA practice acts).
SUPERVISED_ROLES = frozenset({"physician_assistant"})

CLOSURE_REASONS = frozenset(
    {"treatment_completed", "transferred", "patient_declined", "patient_moved", "deceased", "other"}
)
# Care goes on elsewhere (or cannot go on): the plan may close with medications still active.
CLOSURE_REASONS_WITH_ACTIVE_MEDICATION = frozenset({"transferred", "patient_moved", "deceased"})

# The plan's opening is the plan itself, and a correction is corrected by no further entry.
UNCORRECTABLE_ENTRIES = frozenset({"CarePlanOpened", "EntryMarkedInError"})


@dataclass(frozen=True)
class Entry:
    """What an earlier entry of the plan was, read from its stored event.

    The aggregate keeps no history, so the caller reads the event from the store
    and this says what the correction needs: its type, its subject, its author.
    """

    version: int
    type: str
    subject_id: str | None
    recorded_by: str

    @classmethod
    def of(cls, event: Any) -> Entry:
        return cls(
            version=event.originator_version,
            type=type(event).__name__,
            subject_id=subject_of(event),
            recorded_by=event.actor.id,
        )


# Ids every event carries: they name the plan and the request, not what the entry is about.
_ENVELOPE_IDS = frozenset({"originator_id", "correlation_id"})


def subject_of(event: Any) -> str | None:
    """The entry's subject: by convention, the first ``…_id`` field its event declares
    (``prescription_id``, ``follow_up_id``, ``referral_id``, ``member_id``, …), or None.
    """
    for field in fields(event):
        if field.name.endswith("_id") and field.name not in _ENVELOPE_IDS:
            value = getattr(event, field.name)
            return value if isinstance(value, str) else None
    return None


def one_open_plan(patient_id: str, open_plans: Collection[str]) -> None:
    """A patient has one open plan: a second would split their medications, and the
    safety rules would judge each half alone."""
    if open_plans:
        # The plan's id is not named: the caller may not be on its care team (the
        # patient's plan list shows it to those who are).
        raise RuleViolation(
            "care_plan.already_open",
            f"Patient {patient_id} already has an open care plan; continue it (it is in "
            "the patient's plan list), or close it before opening another.",
            "Careplan workflow rule: one open plan per patient, so every rule judges all of "
            "the patient's medications together",
        )


def plan_must_be_open(status: str, plan_id: object) -> None:
    """Checked first, so a closed plan answers with one code whatever else is wrong."""
    if status == "closed":
        raise RuleViolation(
            "care_plan.closed", f"Care plan {plan_id} is closed; open a new one to continue."
        )


def check_care_team_change(
    team: Collection[tuple[str, str]],
    member_id: str,
    role_in_care: str,
    change: str,
    supervisor_id: str | None,
) -> None:
    """Joining needs a supervisor for a physician assistant and not being there already;
    leaving needs being there, in that role.
    """
    member = (member_id, role_in_care)
    if change == "left":
        if member not in team:
            raise RuleViolation(
                "care_team.not_a_member",
                f"{member_id} is not on the care team as {role_in_care}.",
            )
        return
    if role_in_care in SUPERVISED_ROLES and supervisor_id is None:
        raise InvalidValue(
            "care_team.supervisor_required",
            f"A {role_in_care.replace('_', ' ')} joins the care team under a named supervisor.",
        )
    if supervisor_id == member_id:
        raise InvalidValue("care_team.self_supervision", f"{member_id} cannot supervise itself.")
    if member in team:
        raise RuleViolation(
            "care_team.already_a_member",
            f"{member_id} is already on the care team as {role_in_care}.",
        )


class EntryNotFound(NotFound):
    code = "entry.not_found"

    def __init__(self, version: object) -> None:
        super().__init__(f"This care plan has no entry at version {version}.")


def check_correction(entry: Entry, actor: Actor, marked: Mapping[int, str]) -> None:
    """An entry can be marked in error once, unless it is the opening or a correction;
    a clinician corrects only what they recorded themselves.
    """
    if entry.type in UNCORRECTABLE_ENTRIES:
        raise InvalidValue(
            "entry.not_correctable",
            f"Entry {entry.version} ({entry.type}) cannot be marked in error.",
        )
    if actor.role == "clinician" and entry.recorded_by != actor.id:
        raise RuleViolation(
            "entry.not_yours",
            f"Entry {entry.version} was recorded by someone else; a prescriber can correct it.",
        )
    if entry.version in marked:
        raise RuleViolation(
            "entry.already_marked", f"Entry {entry.version} is already marked in error."
        )


def check_closure(reason: str, note: str | None, active_prescriptions: Collection[str]) -> None:
    """Stop or hand over medications before closing, unless care goes on elsewhere or ends;
    an "other" reason says what it is.
    """
    if reason == "other" and note is None:
        raise InvalidValue(
            "care_plan.closure_note_required", "Closing for another reason needs a note saying why."
        )
    if active_prescriptions and reason not in CLOSURE_REASONS_WITH_ACTIVE_MEDICATION:
        raise RuleViolation(
            "care_plan.active_prescriptions",
            f"{len(active_prescriptions)} prescription(s) still active "
            f"({', '.join(sorted(active_prescriptions))}); stop or hand them over first.",
        )
