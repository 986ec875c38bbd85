"""A treatment course that touches every event the views read, with a hook after each
step: the view tests replay it and check their view (against the aggregate, against
a rebuild, against itself at earlier times).

Sertraline is raised (a raise later marked in error), lithium brings its required
monitoring and an interaction warning that is acknowledged, trazodone is tapered
and stopped, bupropion is entered in error; PHQ-9 and GAD-7 are scored between
visits and at one (one score marked in error); a follow-up is missed and rebooked,
another rescheduled. A second plan is closed with its follow-up pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from domain.scales import validated_measurement
from domain.values import (
    Actor,
    CommandContext,
    Diagnosis,
    Discussion,
    Dose,
    Evaluation,
    FollowUpPlan,
    TaperStep,
)
from services.application import CarePlans, CommandResult

PRESCRIBER = Actor("dr-ada", "prescriber", name="Dr Ada Okafor")
NURSE = Actor("rn-sam", "clinician", name="Sam Reyes, RN")
DAYS = 40


@dataclass
class Course:
    plan: UUID
    closed_plan: UUID
    day0: datetime
    rx: dict[str, str] = field(default_factory=dict)
    follow_ups: dict[str, str] = field(default_factory=dict)

    def day(self, n: int) -> datetime:
        return self.day0 + timedelta(days=n)


Step = Callable[[str, CommandResult], None]


BIRTH_DATE = date(1985, 6, 15)
AGREED = Discussion(
    options_considered=("lithium", "lamotrigine", "psychotherapy"),
    expected_benefit="fewer mood episodes",
    side_effects_discussed=("tremor", "nausea"),
    timeline="weeks to months",
    decision="agrees",
)


def play(app: CarePlans, patient_id: str, after: Step | None = None) -> Course:
    """Play the course; ``after(name, result)`` runs after each command."""
    day0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=DAYS)

    def on(day: int, actor: Actor = PRESCRIBER) -> CommandContext:
        return CommandContext(actor, day0 + timedelta(days=day), correlation_id="course")

    def due(day: int) -> FollowUpPlan:
        return FollowUpPlan((day0 + timedelta(days=day)).date(), "telehealth")

    def step(name: str, result: CommandResult) -> CommandResult:
        if after is not None:
            after(name, result)
        return result

    def mg(amount: str) -> Dose:
        return Dose(Decimal(amount), "mg")

    def pending_follow_up(plan: UUID, rx: str | None) -> str:
        return next(
            f.follow_up_id
            for f in app.care_plan(plan).follow_ups.values()
            if f.is_pending and f.prescription_id == rx
        )

    def version_of(plan: UUID, event_type: str) -> int:
        return max(
            e.originator_version for e in app.history(plan) if type(e).__name__ == event_type
        )

    # Aged 40: age rules judge a known age (no birth date is a finding of its own).
    plan = step("open", app.open_care_plan(patient_id, on(0), BIRTH_DATE)).care_plan_id
    evaluation = Evaluation(
        "initial",
        "in_person",
        (Diagnosis("F31.81", "Bipolar II disorder"),),
        current_medications=("ibuprofen 400 mg as needed",),
    )
    step("evaluate", app.record_evaluation(plan, evaluation, on(0)))
    course = Course(plan=plan, closed_plan=plan, day0=day0)

    def prescribe(name: str, drug: str, dose: Dose, frequency: str, follow_up: int | None) -> str:
        result = app.prescribe(
            plan,
            drug=drug,
            dose=dose,
            frequency=frequency,
            route="oral",
            indication="F31.81",
            follow_up=due(follow_up) if follow_up is not None else None,
            ctx=on(0 if name != "trazodone" else 3),
            discussion=AGREED,
        )
        course.rx[name] = str(result.created_id)
        step(f"prescribe {name}", result)
        return course.rx[name]

    sertraline = prescribe("sertraline", "sertraline", mg("25"), "daily", 14)
    course.follow_ups["sertraline"] = pending_follow_up(plan, sertraline)
    lithium = prescribe("lithium", "lithium", mg("300"), "twice_daily", 7)
    course.follow_ups["lithium"] = pending_follow_up(plan, lithium)
    # Above the usual start: its warning waits until the first taper step changes the dose.
    trazodone = prescribe("trazodone", "trazodone", mg("200"), "at_bedtime", None)
    bupropion = app.prescribe(
        plan,
        drug="bupropion",
        dose=mg("150"),
        frequency="daily",
        route="oral",
        indication="F31.81",
        follow_up=None,
        ctx=on(2),
        discussion=AGREED,
    )
    course.rx["bupropion"] = str(bupropion.created_id)
    step("prescribe bupropion", bupropion)
    wrong = version_of(plan, "MedicationPrescribed")
    step(
        "bupropion in error",
        app.mark_entry_in_error(plan, version=wrong, reason="other patient's chart", ctx=on(2)),
    )
    step(
        "reschedule lithium review",
        app.reschedule_follow_up(
            plan,
            course.follow_ups["lithium"],
            due_on=due(28).due_on,
            modality="in_person",
            reason="patient away",
            ctx=on(5),
        ),
    )
    step(
        "lithium level",
        app.record_lab_result(
            plan,
            ctx=on(7),
            test="lithium_level",
            value=Decimal("0.8"),
            unit="mmol/L",
            collected_at=day0 + timedelta(days=7),
        ),
    )
    step(
        "raise sertraline",
        app.change_dose(
            plan,
            sertraline,
            dose=mg("50"),
            reason="tolerating 25 mg",
            follow_up=due(21),
            ctx=on(7),
        ),
    )
    course.follow_ups["after raise"] = next(
        f.follow_up_id
        for f in app.care_plan(plan).follow_ups.values()
        if f.is_pending and f.due_on == due(21).due_on
    )
    for (subject, code), _ in list(app.care_plan(plan).pending_acknowledgements.items()):
        if subject == lithium:
            step(
                f"acknowledge {code}",
                app.acknowledge_warning(plan, subject, code, "level checked weekly", on(8)),
            )
    for total, instrument in ((18, "PHQ-9"), (12, "GAD-7")):
        step(
            f"{instrument} {total}",
            app.record_measurement(plan, instrument=instrument, total=total, ctx=on(10, NURSE)),
        )
    step(
        "first visit",
        app.complete_follow_up(
            plan,
            course.follow_ups["sertraline"],
            modality="telehealth",
            measurements=[validated_measurement("PHQ-9", 14)],
            side_effects=["mild nausea"],
            adherence="taking daily",
            ctx=on(14, NURSE),
        ),
    )
    step(
        "missed",
        app.mark_follow_up_missed(plan, course.follow_ups["after raise"], note=None, ctx=on(21)),
    )
    step("rebooked", app.schedule_follow_up(plan, due(35), on(22, NURSE)))
    step(
        "taper trazodone",
        app.start_taper(
            plan,
            trazodone,
            steps=[TaperStep(due(24).due_on, mg("100"))],
            reason="sleep restored",
            ctx=on(24),
        ),
    )
    step(
        "taper step",
        app.change_dose(
            plan, trazodone, dose=mg("100"), reason="taper step 1", follow_up=None, ctx=on(24)
        ),
    )
    step(
        "raise again",
        app.change_dose(
            plan,
            sertraline,
            dose=mg("150"),
            reason="partial response",
            follow_up=None,
            ctx=on(25),
        ),
    )
    raised = version_of(plan, "DoseChanged")
    step(
        "raise in error",
        app.mark_entry_in_error(plan, version=raised, reason="meant 75 mg", ctx=on(26)),
    )
    step("PHQ-9 8", app.record_measurement(plan, instrument="PHQ-9", total=8, ctx=on(28)))
    step("PHQ-9 3", app.record_measurement(plan, instrument="PHQ-9", total=3, ctx=on(29)))
    scored = version_of(plan, "MeasurementRecorded")
    step(
        "PHQ-9 3 in error",
        app.mark_entry_in_error(plan, version=scored, reason="another patient", ctx=on(29)),
    )
    step(
        "stop trazodone",
        app.discontinue(
            plan,
            trazodone,
            reason="taper completed",
            reason_code="taper_completed",
            ctx=on(30),
        ),
    )
    step("PHQ-9 4", app.record_measurement(plan, instrument="PHQ-9", total=4, ctx=on(31)))

    other = step(
        "open second", app.open_care_plan(f"{patient_id}-b", on(0), BIRTH_DATE)
    ).care_plan_id
    step("evaluate second", app.record_evaluation(other, evaluation, on(0)))
    step("book second", app.schedule_follow_up(other, due(45), on(1)))
    step("close second", app.close_care_plan(other, reason="patient_moved", note=None, ctx=on(2)))
    course.closed_plan = other
    return course
