"""Who may do what, as data: one row per action, enforced by one dependency.

``admin`` operates the service but reads no clinical content; ``service``
(downstream systems) reads derived views only.
"""

from __future__ import annotations

CLINICAL_READERS = frozenset({"prescriber", "clinician", "auditor"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "care_plan.open": frozenset({"prescriber"}),
    "care_plan.read": CLINICAL_READERS,
    "evaluation.record": frozenset({"prescriber"}),
    "prescription.write": frozenset({"prescriber"}),
    "follow_up.schedule": frozenset({"prescriber", "clinician"}),
    "follow_up.complete": frozenset({"prescriber", "clinician"}),
    # Marking missed, cancelling and rescheduling a follow-up.
    "follow_up.manage": frozenset({"prescriber", "clinician"}),
    # Side effects, adherence, rating scales and lab results, between visits or at them.
    "monitoring.record": frozenset({"prescriber", "clinician"}),
    "therapy_referral.make": frozenset({"prescriber", "clinician"}),
    "care_team.change": frozenset({"prescriber"}),
    # A clinician corrects only entries they recorded (checked by the domain: entry.not_yours).
    "entry.mark_in_error": frozenset({"prescriber", "clinician"}),
    "care_plan.close": frozenset({"prescriber"}),
    "medications.read": CLINICAL_READERS | {"service"},
    # The other views: dose timeline, the clinic's worklist, scale outcomes.
    "timeline.read": CLINICAL_READERS | {"service"},
    "worklist.read": CLINICAL_READERS | {"service"},
    "outcomes.read": CLINICAL_READERS | {"service"},
    "history.read": CLINICAL_READERS,
    "audit.read": CLINICAL_READERS,
    # Who read which record: for auditors (compliance), not for the care team.
    "access_log.read": frozenset({"auditor"}),
    # Replaying a plan to a past point (by version, as known, as it was clinically).
    "replay.read": frozenset({"auditor"}),
    "export.read": frozenset({"auditor"}),
    # Operating the service: counts and timings, never clinical content.
    "metrics.read": frozenset({"admin"}),
}
