"""Keeping the record straight: therapy referrals, the care team, entries
marked in error, and closing the plan.

Mistakes are corrected by new events, never by editing or deleting: an entry
marked in error stays in the history, marked, with the reason. The rules live
in ``domain.record_rules``; this module records their outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from domain import corrections, record_rules
from domain.follow_ups import FollowUp
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescription
from domain.record_rules import (
    CARE_TEAM_CHANGES,
    CARE_TEAM_ROLES,
    CLOSURE_REASONS,
    REFERRAL_URGENCIES,
    THERAPIES,
    Entry,
    EntryNotFound,
)
from domain.values import CommandContext, require_choice, require_identifier, require_text


@dataclass
class TherapyReferral:
    """A referral for therapy alongside medication (state, rebuilt from events)."""

    referral_id: str
    therapy: str
    to_whom: str
    reason: str
    urgency: str
    made_at: datetime
    made_by: str


@dataclass
class CareTeamMember:
    """Someone caring for the patient, in one role (state, rebuilt from events)."""

    member_id: str
    role_in_care: str
    name: str | None
    supervisor_id: str | None
    joined_at: datetime


class RecordKeeping(PlanPart):
    """The record keeping part of the care plan."""

    version: int
    prescriptions: dict[str, Prescription]
    follow_ups: dict[str, FollowUp]
    pending_acknowledgements: dict[tuple[str, str], Any]
    acknowledged_warnings: dict[tuple[str, str], Any]

    class TherapyReferralMade(PlanEvent):
        referral_id: str
        therapy: str
        to_whom: str
        reason: str
        urgency: str

        def apply(self, aggregate: Any) -> None:
            aggregate.referrals[self.referral_id] = TherapyReferral(
                referral_id=self.referral_id,
                therapy=self.therapy,
                to_whom=self.to_whom,
                reason=self.reason,
                urgency=self.urgency,
                made_at=self.occurred_at,
                made_by=self.actor.id,
            )

    class CareTeamChanged(PlanEvent):
        member_id: str
        role_in_care: str
        change: str
        name: str | None
        supervisor_id: str | None

        def apply(self, aggregate: Any) -> None:
            member = (self.member_id, self.role_in_care)
            if self.change == "left":
                aggregate.care_team.pop(member, None)
                return
            aggregate.care_team[member] = CareTeamMember(
                member_id=self.member_id,
                role_in_care=self.role_in_care,
                name=self.name,
                supervisor_id=self.supervisor_id,
                joined_at=self.occurred_at,
            )

    class EntryMarkedInError(PlanEvent):
        class_version = 2
        entry_version: int
        entry_type: str
        subject_id: str | None
        reason: str
        restores: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 undoes the entry's effect (see ``domain.corrections``); a v1 correction
            of a change, a stop or a follow-up outcome only marked it."""
            state["restores"] = {}

        def apply(self, aggregate: Any) -> None:
            aggregate.entries_in_error[self.entry_version] = self.reason
            # Looked up with .get: a plan must always load, whatever an old entry named.
            held = aggregate.pending_acknowledgements
            if self.entry_type == "MedicationPrescribed":
                rx = aggregate.prescriptions.get(self.subject_id)
                if rx is not None:
                    rx.status = "entered_in_error"
                    rx.ended_at = None  # never taken, so its stop starts no washout
                    for key in [key for key in held if key[0] == self.subject_id]:
                        del held[key]  # no warning waits on a prescription that never was
            elif self.entry_type == "FollowUpScheduled":
                follow_up = aggregate.follow_ups.get(self.subject_id)
                if follow_up is not None:
                    follow_up.status = "entered_in_error"
            if self.restores:
                self._undo(aggregate)
            for code in self.restores.get("withdrawn_warnings", []):
                held.pop((self.subject_id, code), None)  # raised by what never happened
            if "warning" in self.restores:  # acknowledged in error: it waits again
                key = (self.subject_id, self.restores["warning"].code)
                aggregate.acknowledged_warnings.pop(key, None)
                held[key] = self.restores["warning"]

        def _undo(self, aggregate: Any) -> None:
            rx = aggregate.prescriptions.get(self.subject_id)
            follow_up = aggregate.follow_ups.get(self.subject_id)
            restores = self.restores
            if rx is not None:
                if "dose" in restores:
                    rx.dose_history.pop()
                    rx.dose = restores["dose"]
                    rx.raised = {key for key in rx.raised if not key[0].startswith("dose.")}
                if "taper_steps_taken" in restores:
                    rx.taper_steps_taken = restores["taper_steps_taken"]
                if "status" in restores:
                    rx.status = restores["status"]
                    rx.ended_at = rx.end_reason = rx.end_reason_code = None
                    if rx.status == "active":
                        rx.taper, rx.taper_steps_taken = [], 0
                if "review_due_on" in restores:
                    rx.review_versions.pop()
                    rx.review_due_on = restores["review_due_on"]
                if restores.keys() & {"dose", "taper_steps_taken", "status"}:
                    rx.last_changed_at = self.occurred_at
                    rx.last_changed_by = self.actor
            elif follow_up is not None:
                if "status" in restores:
                    follow_up.status = restores["status"]
                    follow_up.completed_at = None
                    follow_up.measurements = []
                if "due_on" in restores:
                    follow_up.schedule_history.pop()
                    follow_up.due_on = restores["due_on"]
                    follow_up.modality = restores["modality"]

    class CarePlanClosed(PlanEvent):
        reason: str
        note: str | None
        cancelled_follow_ups: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "closed"
            aggregate.closed_at = self.occurred_at
            aggregate.closure_reason = self.reason
            for follow_up_id in self.cancelled_follow_ups:
                aggregate.follow_ups[follow_up_id].status = "cancelled"

    def _init_state(self) -> None:
        super()._init_state()
        self.referrals: dict[str, TherapyReferral] = {}
        self.care_team: dict[tuple[str, str], CareTeamMember] = {}
        self.entries_in_error: dict[int, str] = {}
        self.closed_at: datetime | None = None
        self.closure_reason: str | None = None

    # -- commands -------------------------------------------------------------

    def refer_to_therapy(
        self, therapy: str, to_whom: str, reason: str, urgency: str, ctx: CommandContext
    ) -> str:
        """Refer the patient for therapy alongside medication; returns the referral id."""
        record_rules.plan_must_be_open(self.status, self.id)
        require_choice(therapy, THERAPIES, "referral.unknown_therapy", "therapy")
        require_choice(urgency, REFERRAL_URGENCIES, "referral.unknown_urgency", "urgency")
        to_whom = require_text(to_whom, "referral.recipient_required", "Referred to")
        reason = require_text(reason, "referral.reason_required", "Reason for referral")
        referral_id = str(uuid4())
        self._record(
            self.TherapyReferralMade,
            ctx,
            referral_id=referral_id,
            therapy=therapy,
            to_whom=to_whom,
            reason=reason,
            urgency=urgency,
        )
        return referral_id

    def change_care_team(
        self,
        member_id: str,
        role_in_care: str,
        change: str,
        ctx: CommandContext,
        *,
        name: str | None = None,
        supervisor_id: str | None = None,
    ) -> None:
        """Someone joins the care team in a role, or leaves it."""
        record_rules.plan_must_be_open(self.status, self.id)
        member_id = require_identifier(member_id, "care_team.member_required", "Member id")
        require_choice(role_in_care, CARE_TEAM_ROLES, "care_team.unknown_role", "role in care")
        require_choice(change, CARE_TEAM_CHANGES, "care_team.unknown_change", "change")
        name = _optional_text(name, "Member name")
        supervisor_id = _optional_text(supervisor_id, "Supervisor id")
        record_rules.check_care_team_change(
            self.care_team, member_id, role_in_care, change, supervisor_id
        )
        if change == "left":  # the leaving entry names who left, as they were on the team
            present = self.care_team[(member_id, role_in_care)]
            name = name or present.name
            supervisor_id = supervisor_id or present.supervisor_id
        self._record(
            self.CareTeamChanged,
            ctx,
            member_id=member_id,
            role_in_care=role_in_care,
            change=change,
            name=name,
            supervisor_id=supervisor_id,
        )

    def mark_entry_in_error(
        self, version: int, stored: Any | None, reason: str, ctx: CommandContext
    ) -> None:
        """Mark an earlier entry as entered in error: it stays, marked, with the reason.

        ``stored`` is this plan's stored event at ``version`` (None if there is none):
        the aggregate keeps no history, so the application reads it from the store.
        """
        record_rules.plan_must_be_open(self.status, self.id)
        reason = require_text(reason, "entry.reason_required", "Reason for the correction")
        if (
            stored is None
            or not 1 <= version <= self.version
            or stored.originator_id != self.id
            or stored.originator_version != version
        ):
            raise EntryNotFound(version)
        entry = Entry.of(stored)
        record_rules.check_correction(entry, ctx.actor, self.entries_in_error)
        restores = corrections.restores_for(
            stored, self.prescriptions, self.follow_ups, self.acknowledged_warnings
        )
        self._record(
            self.EntryMarkedInError,
            ctx,
            entry_version=entry.version,
            entry_type=entry.type,
            subject_id=entry.subject_id,
            reason=reason,
            restores=restores,
        )

    def close(self, reason: str, note: str | None, ctx: CommandContext) -> None:
        """Close the plan; pending follow-ups are cancelled with it. Active medications
        must be stopped or handed over first, unless care goes on elsewhere or ends.
        """
        record_rules.plan_must_be_open(self.status, self.id)
        require_choice(reason, CLOSURE_REASONS, "care_plan.unknown_closure_reason", "reason")
        note = _optional_text(note, "Closure note")
        active = [rx.prescription_id for rx in self.prescriptions.values() if rx.is_active]
        record_rules.check_closure(reason, note, active)
        self._record(
            self.CarePlanClosed,
            ctx,
            reason=reason,
            note=note,
            cancelled_follow_ups=[f.follow_up_id for f in self.follow_ups.values() if f.is_pending],
        )

    # -- queries --------------------------------------------------------------

    def is_in_error(self, version: int) -> bool:
        return version in self.entries_in_error


def _optional_text(value: str | None, what: str) -> str | None:
    """Blank optional text counts as not given."""
    if value is None or not value.strip():
        return None
    return require_text(value, "text.invalid", what)
