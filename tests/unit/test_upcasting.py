"""Stored events are kept forever: every version ever written must still load.

Every CarePlan event class declares its ``class_version``; a class at version N > 1
has upcasters ``upcast_v1_v2`` … ``upcast_vN-1_vN``. Here an event stored by the
previous version (the JSON the first release wrote, see ``V1_STATES``) goes through
the application's mapper and comes out with the new fields defaulted as the
upcaster says, and a plan recorded entirely in v1 events loads as expected.
Current events of every class survive a round trip through the mapper unchanged.
"""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.care_plan import CarePlan
from domain.scales import validated_measurement
from domain.values import (
    Actor,
    Diagnosis,
    Evaluation,
    FollowUpPlan,
    Functioning,
    TaperStep,
    UseContext,
)
from services.application import CarePlans
from tests.unit.clinic import AGREED, DR_ADA, FORMULARY, NOW, NURSE_SAM, ctx, in_weeks, mg

APP = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)


def plan_event_classes() -> dict[str, type[CarePlan.Event]]:
    """Every event class nested in CarePlan (the base ``Event`` itself aside)."""
    return {
        name: value
        for name, value in inspect.getmembers(CarePlan, inspect.isclass)
        if issubclass(value, CarePlan.Event) and value is not CarePlan.Event
    }


EVENT_CLASSES = plan_event_classes()
# eventsourcing's default creation event: CarePlan.open records CarePlanOpened instead.
NEVER_RECORDED = frozenset({"Created"})
VERSIONED = sorted(name for name, cls in EVENT_CLASSES.items() if cls.class_version > 1)


def on_day(day: int, actor: Actor = DR_ADA) -> Any:
    return ctx(actor, NOW + timedelta(days=day))


def a_full_history() -> list[CarePlan.Event]:
    """One plan that records every kind of event, each v2 field with a non-default value
    (an upcaster that ran on a current event would show)."""
    plan = CarePlan.open("pt-7", on_day(0), birth_date=date(1980, 5, 17))
    plan.record_evaluation(
        Evaluation(
            "initial",
            "in_person",
            (Diagnosis("F31.11", "Bipolar I disorder, current episode manic, mild"),),
            symptoms=("pressured speech",),
            current_medications=("Ibuprofen 400 mg as needed",),
            conditions=frozenset({"renal_impairment_mild_moderate"}),
        ),
        on_day(0),
    )
    lithium, _ = plan.prescribe(
        "lithium",
        mg("300"),
        "twice_daily",
        "oral",
        "bipolar I",
        in_weeks(1),
        on_day(0),
        formulary=FORMULARY,
        refills=2,
        use=UseContext("er", "bipolar_mania", "inpatient"),
        discussion=AGREED,
    )
    plan.acknowledge_warning(lithium, "interaction.lithium_level", "level in 5 days", on_day(0))
    plan.record_treatment_decision(
        "medication_deferred", "no antidepressant while mania is possible", ["CBT"], on_day(0)
    )
    plan.change_dose(
        lithium, mg("600"), "mania persists", None, on_day(1), formulary=FORMULARY
    )  # warns: a step above the usual one, sooner than usual
    paroxetine, _ = plan.prescribe(
        "paroxetine",
        mg("20"),
        "daily",
        "oral",
        "depression",
        None,
        on_day(2),
        formulary=FORMULARY,
    )
    steps = [TaperStep(NOW.date() + timedelta(days=3), mg("10"))]
    plan.start_taper(paroxetine, steps, "remission", on_day(3), formulary=FORMULARY)
    plan.change_dose(paroxetine, mg("10"), "taper step 1", None, on_day(3), formulary=FORMULARY)
    plan.discontinue(
        paroxetine, "taper done", on_day(4), reason_code="taper_completed", formulary=FORMULARY
    )
    sertraline, _ = plan.prescribe(
        "sertraline",
        mg("50"),
        "daily",
        "oral",
        "depression",
        None,
        on_day(4),
        formulary=FORMULARY,
    )
    plan.switch(
        sertraline,
        strategy="direct",
        reason="vivid dreams",
        drug="mirtazapine",
        dose=mg("15"),
        frequency="at_bedtime",
        route="oral",
        indication="depression",
        follow_up=None,
        ctx=on_day(4),
        formulary=FORMULARY,
        acknowledgements={"discontinuation.taper_required": "switching today"},
    )
    stray, _ = plan.schedule_follow_up(FollowUpPlan(NOW.date() + timedelta(days=9)), on_day(4))
    (follow_up_id, *_) = plan.follow_ups
    plan.complete_follow_up(
        follow_up_id,
        "in_person",
        [validated_measurement("PHQ-9", 8)],
        ["tremor"],
        "daily",
        on_day(7, NURSE_SAM),
    )
    # Monitoring: one of each event, recorded on day 7 (lithium is still active).
    plan.report_side_effect("tremor", "mild", "monitor", on_day(7), prescription_id=lithium)
    plan.record_evaluation(  # the GP added a thiazide: lithium is flagged by the review
        Evaluation(
            "reassessment",
            "telehealth",
            (),
            current_medications=("Ibuprofen 400 mg as needed", "Hydrochlorothiazide 25 mg"),
            conditions=frozenset({"hepatic_impairment"}),
            resolved_conditions=frozenset({"renal_impairment_mild_moderate"}),
            weight_kg=Decimal("72.5"),
            allergies=("Lamictal - rash",),
            birth_date=date(1980, 5, 18),
            functioning=Functioning("moderate", "mild", "none"),
        ),
        on_day(7),
        FORMULARY,
    )
    plan.record_check("pregnancy_status", False, on_day(7), formulary=FORMULARY, note="hCG neg")
    plan.review_medication(lithium, "continue", "stable on a level of 0.8", on_day(7))
    plan.record_adherence("missed_some_doses", on_day(7), prescription_id=lithium, note="weekends")
    plan.record_measurement("PHQ-9", on_day(7, NURSE_SAM), items=[1, 1, 1, 1, 1, 1, 1, 1, 1])
    plan.record_lab_result(
        "lithium_level", Decimal("1.6"), "mEq/L", NOW + timedelta(days=6, hours=20), on_day(7)
    )
    missed, _ = plan.schedule_follow_up(FollowUpPlan(NOW.date() + timedelta(days=7)), on_day(7))
    plan.mark_follow_up_missed(missed, "no answer", on_day(7))
    moved, _ = plan.schedule_follow_up(FollowUpPlan(NOW.date() + timedelta(days=14)), on_day(7))
    plan.reschedule_follow_up(
        moved, NOW.date() + timedelta(days=21), "telehealth", "away", on_day(7)
    )
    plan.cancel_follow_up(moved, "seen at the ward round instead", on_day(7))
    plan.refer_to_therapy("cbt", "Dr Lin", "relapse prevention", "routine", on_day(7))
    plan.change_care_team(
        "pa-kim", "physician_assistant", "joined", on_day(7), name="Kim", supervisor_id="dr-ada"
    )
    scheduled = next(e for e in plan.pending_events if getattr(e, "follow_up_id", None) == stray)
    plan.mark_entry_in_error(scheduled.originator_version, scheduled, "wrong patient", on_day(8))
    no_show = next(e for e in plan.pending_events if isinstance(e, CarePlan.FollowUpMissed))
    plan.mark_entry_in_error(no_show.originator_version, no_show, "they attended", on_day(8))
    plan.close("transferred", "moved to Leeds", on_day(9))
    return list(plan.collect_events())


HISTORY = a_full_history()
SAMPLES = {type(e).__name__: e for e in HISTORY}


def round_trip(event: Any) -> Any:
    return APP.mapper.to_domain_event(APP.mapper.to_stored_event(event))


class TestEveryEventClassIsVersioned:
    def test_every_nested_event_class_declares_an_integer_class_version(self) -> None:
        assert len(EVENT_CLASSES) >= 15
        for name, cls in EVENT_CLASSES.items():
            version = getattr(cls, "class_version", None)
            assert type(version) is int, name
            assert version >= 1, name

    @pytest.mark.parametrize("name", VERSIONED)
    def test_a_versioned_class_can_upcast_from_every_older_version(self, name: str) -> None:
        cls = EVENT_CLASSES[name]
        for old in range(1, cls.class_version):
            assert callable(getattr(cls, f"upcast_v{old}_v{old + 1}", None)), (name, old)

    def test_the_versioned_classes_are_the_ones_the_readme_names(self) -> None:
        assert VERSIONED == [
            "CarePlanOpened",
            "ClinicalCheckRecorded",
            "DoseChanged",
            "EntryMarkedInError",
            "EvaluationRecorded",
            "FollowUpCompleted",
            "FollowUpScheduled",
            "MeasurementRecorded",
            "MedicationDiscontinued",
            "MedicationPrescribed",
        ]

    def test_the_sample_history_holds_every_recorded_event_class(self) -> None:
        """A new event class needs a sample in ``a_full_history`` (and, once it changes,
        an upcaster and a v1 state here)."""
        assert set(SAMPLES) == set(EVENT_CLASSES) - NEVER_RECORDED


class TestCurrentEventsRoundTrip:
    @pytest.mark.parametrize("name", sorted(set(EVENT_CLASSES) - NEVER_RECORDED))
    def test_a_current_event_comes_back_unchanged_from_the_mapper(self, name: str) -> None:
        for event in (e for e in HISTORY if type(e).__name__ == name):
            stored = APP.mapper.to_stored_event(event)
            assert stored.topic == f"domain.care_plan:CarePlan.{name}"
            back = APP.mapper.to_domain_event(stored)
            assert type(back) is type(event)
            assert vars(back) == vars(event)

    def test_the_v2_fields_of_the_samples_are_not_defaults(self) -> None:
        """So an upcaster run on a current event would be seen above."""
        assert SAMPLES["CarePlanOpened"].birth_date == date(1980, 5, 17)
        reassessment = SAMPLES["EvaluationRecorded"]  # the last one: the reassessment
        assert reassessment.conditions == ["hepatic_impairment"]
        assert reassessment.resolved_conditions == ["renal_impairment_mild_moderate"]
        assert SAMPLES["EntryMarkedInError"].restores == {"status": "scheduled"}
        flagged = SAMPLES["MedicationReviewFlagged"]
        assert [w.code for w in flagged.warnings] == ["interaction.lithium_level"]
        assert flagged.evaluation_version == reassessment.originator_version
        prescribed = next(e for e in HISTORY if isinstance(e, CarePlan.MedicationPrescribed))
        assert (prescribed.refills, [w.code for w in prescribed.warnings]) == (
            2,
            ["interaction.lithium_level"],
        )
        assert (prescribed.form, prescribed.indication_code, prescribed.setting) == (
            "er",
            "bipolar_mania",
            "inpatient",
        )
        assert reassessment.weight_kg == Decimal("72.5")
        assert (reassessment.birth_date, reassessment.allergy_codes) == (
            date(1980, 5, 18),
            ["drug:lamotrigine"],
        )
        assert reassessment.functioning == Functioning("moderate", "mild", "none")
        assert prescribed.discussion == AGREED
        assert prescribed.review_due_on == (NOW + timedelta(days=42)).date()  # a mood stabiliser
        visit = SAMPLES["FollowUpCompleted"]
        assert [f.code for f in visit.findings] == ["measurement.self_harm_item_unknown"]
        scored = SAMPLES["MeasurementRecorded"]
        assert [(f.code, f.severity) for f in scored.findings] == [
            ("measurement.self_harm_risk", "urgent")
        ]
        changes = [e for e in HISTORY if isinstance(e, CarePlan.DoseChanged)]
        assert changes[0].warnings
        assert changes[1].taper_step == 1
        stopped = SAMPLES["MedicationDiscontinued"]  # the last one: the direct switch
        assert (stopped.reason_code, [w.code for w in stopped.warnings]) == (
            "switched",
            ["discontinuation.taper_required"],
        )

    def test_a_plan_replayed_from_round_tripped_events_is_the_same_plan(self) -> None:
        rebuilt = original = None
        for event in HISTORY:
            original = event.mutate(original)
            rebuilt = round_trip(event).mutate(rebuilt)
        assert rebuilt is not None
        assert original is not None
        assert _state(rebuilt) == _state(original)
        assert rebuilt.status == "closed"


# -- events as the first release stored them -----------------------------------------

V1_TIME = datetime(2026, 1, 5, 10, 15, tzinfo=UTC)


def _tagged(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """A value object as the transcoder wrote it (``_type_``/``_data_``), written by hand so
    it carries only the fields that version had (the v1 Actor had no ``profession``)."""
    return {"_type_": name, "_data_": data}


V1_ACTOR = _tagged(
    "actor", {"id": "dr-ada", "role": "prescriber", "name": "Dr Ada", "supervisor_id": None}
)
V1_PRESCRIPTION = "5b0c2f7e-5d0f-4b7e-9a57-1f0f4d1f3e21"


def _envelope(minutes: int) -> dict[str, Any]:
    at = V1_TIME + timedelta(minutes=minutes)
    return {
        "timestamp": at + timedelta(seconds=1),
        "actor": V1_ACTOR,
        "occurred_at": at,
        "correlation_id": f"req-v1-{minutes}",
    }


# The state each v2 class's previous version stored, by the field lists of the first
# release (commit 1ee1780: the fields v2 added are the ones its upcaster sets).
V1_STATES: dict[str, dict[str, Any]] = {
    "CarePlanOpened": {
        **_envelope(0),
        "originator_topic": "domain.care_plan:CarePlan",
        "patient_id": "pt-v1",
    },
    "EvaluationRecorded": {
        **_envelope(1),
        "kind": "initial",
        "modality": "in_person",
        "diagnoses": [_tagged("diagnosis", {"code": "F32.1", "display": "MDD, moderate"})],
        "symptoms": ["low mood"],
        "current_medications": ["ibuprofen"],
        "supplements": [],
        "allergies": ["penicillin"],
        "duration": "3 months",
        "functional_impact": None,
        "history": None,
        "sleep": "early waking",
        "stress": None,
        "substance_use": None,
    },
    "MedicationPrescribed": {
        **_envelope(2),
        "prescription_id": V1_PRESCRIPTION,
        "drug": "sertraline",
        "dose": _tagged("dose", {"amount": "25", "unit": "mg"}),
        "frequency": "daily",
        "route": "oral",
        "indication": "MDD",
    },
    "DoseChanged": {
        **_envelope(3),
        "prescription_id": V1_PRESCRIPTION,
        "drug": "sertraline",
        "dose": _tagged("dose", {"amount": "50", "unit": "mg"}),
        "previous_dose": _tagged("dose", {"amount": "25", "unit": "mg"}),
        "reason": "tolerating well",
    },
    "MedicationDiscontinued": {
        **_envelope(4),
        "prescription_id": V1_PRESCRIPTION,
        "drug": "sertraline",
        "reason": "remission for 9 months",
    },
    "EntryMarkedInError": {
        **_envelope(5),
        "entry_version": 4,
        "entry_type": "DoseChanged",
        "subject_id": V1_PRESCRIPTION,
        "reason": "wrong patient",
    },
    "FollowUpCompleted": {
        **_envelope(6),
        "follow_up_id": "7d7c6f0e-1c1a-4f57-8d55-6c9a3e2b1f10",
        "modality": "telehealth",
        "measurements": [_tagged("measurement", {"instrument": "PHQ-9", "total": 11})],
        "side_effects": ["nausea"],
        "adherence": None,
    },
    "MeasurementRecorded": {
        **_envelope(7),
        "measurement_id": "0f5e2b8c-52d6-4c43-9f0e-2b3f8d1a6c77",
        "instrument": "PHQ-9",
        "total": 3,
        "items": [0, 1, 0, 0, 1, 0, 0, 0, 1],
        "band": "minimal",
        "urgent": True,
    },
    "FollowUpScheduled": {
        **_envelope(9),
        "follow_up_id": "3c2d1e0f-6b5a-4c3d-9e8f-7a6b5c4d3e2f",
        "due_on": date(2026, 2, 2),
        "modality": "in_person",
        "purpose": "medication review",
        "prescription_id": None,
    },
    "ClinicalCheckRecorded": {
        **_envelope(8),
        "check_id": "b7e0c9f1-43a8-4d0e-93f5-0d6f2f3a9e12",
        "check": "rash_check",
        "present": True,
        "note": None,
        "urgent": [
            _tagged(
                "finding",
                {
                    "code": "lamotrigine.rash",
                    "severity": "warn",
                    "message": "rash check positive: assess today.",
                    "source": "Lamictal label, boxed warning",
                },
            )
        ],
    },
}
# What each upcaster sets: the v2 fields and their defaults.
UPCAST_DEFAULTS: dict[str, dict[str, Any]] = {
    "CarePlanOpened": {"birth_date": None},
    "EvaluationRecorded": {
        "conditions": [],
        "resolved_conditions": [],
        "weight_kg": None,
        "birth_date": None,
        "allergy_codes": [],
        "functioning": None,
    },
    "MedicationPrescribed": {
        "refills": 0,
        "warnings": [],
        "form": None,
        "indication_code": None,
        "setting": "outpatient",
        "discussion": None,
        "review_due_on": None,
    },
    "DoseChanged": {"warnings": [], "taper_step": None},
    "MedicationDiscontinued": {"reason_code": "other", "warnings": []},
    "EntryMarkedInError": {"restores": {}},
    "FollowUpCompleted": {"findings": [], "prompts": []},
    "MeasurementRecorded": {"findings": [], "prompts": []},
    "FollowUpScheduled": {"warnings": []},
    "ClinicalCheckRecorded": {},  # it adds no field: it says "urgent" of its findings
}
V1_ORDER = [
    "CarePlanOpened",
    "EvaluationRecorded",
    "MedicationPrescribed",
    "DoseChanged",
    "MedicationDiscontinued",
    "EntryMarkedInError",
]


def stored_v1(name: str, plan_id: UUID, version: int) -> StoredEvent:
    """The stored event the first release wrote: no ``class_version`` in the state."""
    return StoredEvent(
        originator_id=plan_id,
        originator_version=version,
        topic=f"domain.care_plan:CarePlan.{name}",
        state=APP.mapper.transcoder.encode(V1_STATES[name]),
    )


def v1_history(plan_id: UUID) -> list[StoredEvent]:
    return [stored_v1(name, plan_id, n) for n, name in enumerate(V1_ORDER, start=1)]


class TestEventsStoredByTheFirstRelease:
    def test_every_versioned_class_has_a_v1_state_and_its_defaults(self) -> None:
        assert set(V1_STATES) == set(UPCAST_DEFAULTS) == set(VERSIONED)
        for name in VERSIONED:
            expected = 4 if name in V3_STATES else 3 if name in V2_STATES else 2
            assert EVENT_CLASSES[name].class_version == expected, f"{name}: add its state here"

    def test_a_v1_urgent_check_says_urgent_of_its_finding(self) -> None:
        event = APP.mapper.to_domain_event(stored_v1("ClinicalCheckRecorded", uuid4(), 9))
        assert [(f.code, f.severity) for f in event.urgent] == [("lamotrigine.rash", "urgent")]

    def test_a_v1_visit_keeps_its_totals_without_item_scores(self) -> None:
        event = APP.mapper.to_domain_event(stored_v1("FollowUpCompleted", uuid4(), 7))
        (measurement,) = event.measurements
        assert (measurement.instrument, measurement.total, measurement.items) == ("PHQ-9", 11, ())

    @pytest.mark.parametrize("name", VERSIONED)
    def test_a_v1_event_loads_with_the_new_fields_defaulted(self, name: str) -> None:
        plan_id = uuid4()
        order = [
            *V1_ORDER,
            "FollowUpCompleted",
            "MeasurementRecorded",
            "ClinicalCheckRecorded",
            "FollowUpScheduled",
        ]
        stored = stored_v1(name, plan_id, 1)
        assert b"class_version" not in stored.state
        event = APP.mapper.to_domain_event(stored)
        assert type(event) is EVENT_CLASSES[name]
        added = set(vars(event)) - set(V1_STATES[name]) - {"originator_id", "originator_version"}
        assert {field: getattr(event, field) for field in added} == UPCAST_DEFAULTS[name]
        # Every field a current event of the class has, the upcast one has too.
        assert set(vars(event)) == set(vars(SAMPLES[name]))
        assert (event.originator_id, event.originator_version) == (plan_id, 1)
        assert event.actor == Actor("dr-ada", "prescriber", name="Dr Ada")
        assert event.occurred_at == V1_TIME + timedelta(minutes=order.index(name))

    def test_the_present_fields_of_a_v1_event_keep_their_values(self) -> None:
        prescribed = APP.mapper.to_domain_event(stored_v1("MedicationPrescribed", uuid4(), 3))
        assert (prescribed.drug, prescribed.dose, prescribed.frequency) == (
            "sertraline",
            mg("25"),
            "daily",
        )
        evaluation = APP.mapper.to_domain_event(stored_v1("EvaluationRecorded", uuid4(), 2))
        assert evaluation.diagnoses == [Diagnosis("F32.1", "MDD, moderate")]
        assert evaluation.allergies == ["penicillin"]

    def test_a_plan_recorded_in_v1_events_loads_with_the_expected_state(self) -> None:
        plan_id = uuid4()
        APP.recorder.insert_events(v1_history(plan_id)[:4])
        plan = APP.care_plan(plan_id)
        assert (plan.version, plan.patient_id, plan.birth_date, plan.status) == (
            4,
            "pt-v1",
            None,
            "open",
        )
        assert plan.opened_at == V1_TIME
        assert plan.has_initial_evaluation
        assert plan.conditions == set()
        assert plan.current_medications == ["ibuprofen"]
        assert plan.pending_acknowledgements == {}
        rx = plan.prescription(V1_PRESCRIPTION)
        assert (rx.drug, rx.dose, rx.frequency, rx.status) == (
            "sertraline",
            mg("50"),
            "daily",
            "active",
        )
        assert rx.started_at == V1_TIME + timedelta(minutes=2)
        assert rx.last_changed_at == V1_TIME + timedelta(minutes=3)
        assert rx.taper_steps_taken == 0

    def test_a_v1_stop_loads_with_the_other_reason_code(self) -> None:
        plan_id = uuid4()
        APP.recorder.insert_events(v1_history(plan_id))
        plan = APP.care_plan(plan_id)
        rx = plan.prescription(V1_PRESCRIPTION)
        assert (rx.status, rx.end_reason_code, rx.end_reason) == (
            "discontinued",
            "other",
            "remission for 9 months",
        )
        assert plan.active_prescriptions == []
        assert APP.care_plan(plan_id, version=4).prescription(V1_PRESCRIPTION).is_active

    def test_a_v1_plan_takes_new_commands_and_its_new_events_load(self) -> None:
        plan_id = uuid4()
        APP.recorder.insert_events(v1_history(plan_id)[:4])
        APP.change_dose(
            plan_id,
            V1_PRESCRIPTION,
            dose=mg("100"),
            reason="partial response",
            follow_up=FollowUpPlan(V1_TIME.date() + timedelta(days=44)),
            ctx=ctx(at=V1_TIME + timedelta(days=30)),
        )
        plan = APP.care_plan(plan_id)
        assert plan.version == 6  # DoseChanged v2 and its follow-up
        assert plan.prescription(V1_PRESCRIPTION).dose == mg("100")
        history = list(APP.history(plan_id))
        assert [type(e).__name__ for e in history[-2:]] == ["DoseChanged", "FollowUpScheduled"]
        assert history[-2].previous_dose.amount == Decimal("50")


def _state(plan: CarePlan) -> dict[str, Any]:
    return {k: v for k, v in vars(plan).items() if k != "_pending_events"}


# -- events as the second release stored them ---------------------------------------

V2_STATES: dict[str, dict[str, Any]] = {
    "EvaluationRecorded": {
        **V1_STATES["EvaluationRecorded"],
        "conditions": ["pregnant"],
        "class_version": 2,
    },
    "MedicationPrescribed": {
        **V1_STATES["MedicationPrescribed"],
        "refills": 1,
        "warnings": [],
        "class_version": 2,
    },
}
# What each v2→v3 upcaster sets.
UPCAST_V3_DEFAULTS: dict[str, dict[str, Any]] = {
    "EvaluationRecorded": {"resolved_conditions": [], "weight_kg": None},
    "MedicationPrescribed": {"form": None, "indication_code": None, "setting": "outpatient"},
}


V3_STATES: dict[str, dict[str, Any]] = {
    "MedicationPrescribed": {
        **V2_STATES["MedicationPrescribed"],
        "form": "er",
        "indication_code": None,
        "setting": "outpatient",
        "class_version": 3,
    },
    "EvaluationRecorded": {
        **V2_STATES["EvaluationRecorded"],
        "resolved_conditions": [],
        "weight_kg": Decimal("70"),
        "class_version": 3,
    },
}
UPCAST_V4_DEFAULTS: dict[str, dict[str, Any]] = {
    "MedicationPrescribed": {"discussion": None, "review_due_on": None},
    "EvaluationRecorded": {"birth_date": None, "allergy_codes": [], "functioning": None},
}


def loaded(name: str, state: dict[str, Any]) -> Any:
    """An event stored with ``state`` (an older version's) as the mapper loads it now."""
    stored = StoredEvent(
        originator_id=uuid4(),
        originator_version=2,
        topic=f"domain.care_plan:CarePlan.{name}",
        state=APP.mapper.transcoder.encode(state),
    )
    return APP.mapper.to_domain_event(stored)


class TestEventsStoredByTheThirdRelease:
    @pytest.mark.parametrize("name", sorted(V3_STATES))
    def test_a_v3_event_loads_with_the_v4_fields_defaulted(self, name: str) -> None:
        event = loaded(name, V3_STATES[name])
        assert set(vars(event)) == set(vars(SAMPLES[name]))
        added = UPCAST_V4_DEFAULTS[name]
        assert {field: getattr(event, field) for field in added} == added
        if name == "EvaluationRecorded":
            assert event.weight_kg == Decimal("70")
            assert event.diagnoses == [Diagnosis("F32.1", "MDD, moderate")]  # ICD-10-CM
        else:
            assert event.form == "er"

    def test_a_v3_prescription_is_reviewed_eight_weeks_after_its_start(self) -> None:
        plan_id = uuid4()
        APP.recorder.insert_events(v1_history(plan_id)[:3])
        rx = APP.care_plan(plan_id).prescription(V1_PRESCRIPTION)
        assert rx.review_due_on == (V1_TIME + timedelta(minutes=2)).date() + timedelta(days=56)


class TestEventsStoredByTheSecondRelease:
    @pytest.mark.parametrize("name", sorted(V2_STATES))
    def test_a_v2_event_loads_with_the_v3_fields_defaulted(self, name: str) -> None:
        event = loaded(name, V2_STATES[name])
        assert set(vars(event)) == set(vars(SAMPLES[name]))
        added = UPCAST_V3_DEFAULTS[name]
        assert {field: getattr(event, field) for field in added} == added
        kept = set(V2_STATES[name]) - {"class_version", "timestamp"}
        plain = kept - {"actor", "dose", "diagnoses"}  # value objects: compared above by type
        assert {f: getattr(event, f) for f in plain} == {f: V2_STATES[name][f] for f in plain}
