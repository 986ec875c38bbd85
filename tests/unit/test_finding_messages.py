"""Every finding code's message, rendered: a sentence a clinician would write, with a
source a user can open. A code nobody renders here fails the completeness test."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain import (
    allergies,
    consent,
    interactions,
    missing_facts,
    monitoring_plan,
    outcome_rules,
    record_rules,
    safety,
    schedules,
    scope,
    taper_rules,
)
from domain.checks import CHECKS
from domain.errors import RuleViolation
from domain.labs import critical_findings, read_lab_result
from domain.regulations import default_regulations
from domain.safety import Finding
from domain.scales import scored_measurement
from domain.values import Actor, MonitoringItem, TaperStep
from tests.unit.clinic import AGREED, FORMULARY, NOW, ctx, evaluated_plan, in_weeks, mg

DRUGS = FORMULARY.drugs
OTHERS = FORMULARY.others
TODAY = NOW.date()


def drug(name: str):  # type: ignore[no-untyped-def]
    return DRUGS[name]


def refusal(act: Callable[[], object]) -> list[Finding]:
    """A refused command's code and message, as the finding it was."""
    with pytest.raises(RuleViolation) as refused:
        act()
    error = refused.value
    return [Finding(error.code, "block", error.message, error.source or "")]


def _switch_fluoxetine_to_phenelzine() -> list[Finding]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        "fluoxetine", mg("20"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    return refusal(
        lambda: plan.switch(
            rx,
            strategy="direct",
            reason="no response",
            drug="phenelzine",
            dose=mg("15"),
            frequency="three_times_daily",
            route="oral",
            indication="MDD",
            follow_up=in_weeks(1),
            ctx=ctx(),
            formulary=FORMULARY,
        )
    )


def _off_plan() -> list[Finding]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        "paroxetine", mg("40"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    plan.start_taper(
        rx,
        [TaperStep(TODAY + timedelta(days=7), mg("30"))],
        "remission",
        ctx(),
        formulary=FORMULARY,
    )
    return plan.change_dose(rx, mg("25"), "slower", None, ctx(), formulary=FORMULARY)


def _already_open() -> list[Finding]:
    return refusal(lambda: record_rules.one_open_plan("pt-1", ["b1d2"]))


def _check(name: str) -> list[Finding]:
    plan = evaluated_plan()
    watched = CHECKS[name][0]
    plan.prescribe(
        watched, mg("25"), "daily", "oral", "test", in_weeks(1), ctx(), formulary=FORMULARY
    )
    _, urgent = plan.record_check(name, True, ctx(), formulary=FORMULARY)
    return urgent


def _already_active() -> list[Finding]:
    plan = evaluated_plan()
    plan.prescribe(
        "sertraline", mg("50"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    return safety.one_active_prescription_per_drug("sertraline", plan.prescriptions.values())


def _not_active() -> list[Finding]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        "sertraline", mg("25"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    plan.discontinue(rx, "remission", ctx(), reason_code="remission")
    return safety.prescription_must_be_active(plan.prescription(rx))


def _caution(group: str) -> list[Finding]:
    sensitive = [d for d in DRUGS.values() if group in d.caution_with]
    changer = next(d for d in DRUGS.values() if group in d.groups)
    assert sensitive, f"no drug is cautious of {group}"
    return interactions.major_interactions(sensitive[0], [changer], [])


def _prompts(scores: list[tuple[int, int]]) -> list[Finding]:
    """What PHQ-9 totals on these days (from the start of sertraline 50 mg) prompt."""
    course = outcome_rules.Course(
        "rx-1", drug("sertraline"), "F32.1 depression", Decimal(50), "daily", NOW, NOW
    )
    history = [
        outcome_rules.ScorePoint("PHQ-9", total, NOW + timedelta(days=day)) for total, day in scores
    ]
    return outcome_rules.prompts(course, history)


PA = Actor("pa-kim", "prescriber", profession="physician_assistant")
GP = Actor("dr-gp", "prescriber", profession="primary_care")
AFTER_FLEXIBILITY = datetime(2027, 2, 1, tzinfo=UTC)
LITHIUM_DUE = MonitoringItem("lithium_level", TODAY - timedelta(days=3), "level")

#: code → how to make it (each returns the findings of one realistic case).
RENDER: dict[str, Callable[[], list[Finding]]] = {
    "prescription.requires_evaluation": lambda: safety.requires_initial_evaluation(False),
    "prescription.already_active": _already_active,
    "prescription.not_active": _not_active,
    "follow_up.required": lambda: safety.follow_up_must_be_planned(False, {}),
    "dose.above_maximum": lambda: safety.dose_within_maximum(
        drug("citalopram"), Decimal(40), frozenset({"age_over_60"})
    ),
    "dose.above_ceiling": lambda: safety.dose_within_ceiling(drug("lithium"), Decimal(90000)),
    "dose.above_practical_maximum": lambda: safety.dose_within_practical_maximum(
        drug("lithium"), Decimal(2400), frozenset()
    ),
    "dose.single_above_maximum": lambda: safety.single_dose_within_maximum(
        drug("fluoxetine"), Decimal(90), "weekly", frozenset()
    ),
    "dose.above_usual_start": lambda: safety.start_low(drug("sertraline"), Decimal(100)),
    "dose.step_above_usual": lambda: [
        f
        for f in safety.titration_step(drug("sertraline"), Decimal(50), Decimal(150), 30)
        if f.code == "dose.step_above_usual"
    ],
    "dose.increase_too_soon": lambda: safety.titration_step(
        drug("sertraline"), Decimal(50), Decimal(100), 2
    ),
    "lamotrigine.titration_too_fast": lambda: schedules.lamotrigine_titration(
        drug("lamotrigine"), Decimal(100), 3, True
    ),
    "follow_up.interval_too_long": lambda: (
        schedules.follow_up_interval(
            drug("sertraline"), 40, True, TODAY, TODAY + timedelta(days=35)
        )
        + outcome_rules.visit_spacing(False, True, TODAY, TODAY + timedelta(days=60))
        + outcome_rules.visit_spacing(True, True, TODAY, TODAY + timedelta(days=120))
    ),
    "patient.age_unknown": lambda: missing_facts.missing_facts(
        drug("citalopram"), None, Decimal(70), starting=True
    ),
    "patient.weight_unknown": lambda: missing_facts.missing_facts(
        drug("divalproex"), 40, None, starting=True
    ),
    "interaction.contraindicated": lambda: (
        interactions.maoi_contraindications(drug("phenelzine"), [drug("sertraline")], [])
        + interactions.label_contraindications(drug("lurasidone"), [drug("carbamazepine")], [])
    ),
    "interaction.washout_required": lambda: (
        interactions.maoi_washout(
            drug("phenelzine"), [(drug("fluoxetine"), NOW - timedelta(days=3))], NOW
        )
        + _switch_fluoxetine_to_phenelzine()
    ),
    "interaction.lithium_level": lambda: interactions.major_interactions(
        drug("lithium"), [], [OTHERS["ibuprofen"]]
    ),
    "interaction.valproate_lamotrigine": lambda: interactions.major_interactions(
        drug("lamotrigine"), [drug("divalproex")], []
    ),
    "interaction.clozapine_cyp1a2": lambda: interactions.major_interactions(
        drug("clozapine"), [drug("fluvoxamine")], []
    ),
    "interaction.qt_prolongation": lambda: interactions.major_interactions(
        drug("citalopram"), [drug("quetiapine")], []
    ),
    "interaction.benzodiazepine_opioid": lambda: interactions.major_interactions(
        drug("lorazepam"), [], [OTHERS["oxycodone"]]
    ),
    "interaction.sedative_opioid": lambda: interactions.major_interactions(
        drug("pregabalin"), [drug("buprenorphine")], []
    ),
    "interaction.serotonin_syndrome": lambda: interactions.major_interactions(
        drug("sertraline"), [], [OTHERS["tramadol"]]
    ),
    "interaction.cyp2d6_inhibitor": lambda: interactions.major_interactions(
        drug("aripiprazole"), [drug("fluoxetine")], []
    ),
    "interaction.cyp3a4_inhibitor": lambda: interactions.major_interactions(
        drug("quetiapine"), [], [OTHERS["clarithromycin"]]
    ),
    "interaction.cyp3a4_inducer": lambda: interactions.major_interactions(
        drug("aripiprazole"), [drug("carbamazepine")], []
    ),
    "interaction.cyp1a2_inhibitor": lambda: _caution("strong_cyp1a2_inhibitor"),
    "interaction.cyp2c19_inhibitor": lambda: interactions.major_interactions(
        drug("citalopram"), [drug("fluvoxamine")], []
    ),
    "therapy.duplicate_class": lambda: interactions.duplicate_therapy(
        drug("sertraline"), [drug("fluoxetine")]
    ),
    "discontinuation.taper_required": lambda: [
        f
        for name, d in sorted(DRUGS.items())
        if d.needs_taper and d.stop_from_daily is not None
        for f in taper_rules.stop_needs_taper(
            d, d.stop_from_daily * 2, [], 0, "switched", TODAY, replaced=False
        )
    ],
    "taper.off_plan": _off_plan,
    "taper.too_fast": lambda: taper_rules.taper_pace(
        drug("lorazepam"),
        mg("4"),
        "daily",
        [TaperStep(TODAY, mg("2"))],
        TODAY,
    ),
    "taper.alprazolam_too_fast": lambda: taper_rules.taper_pace(
        drug("alprazolam"),
        mg("3"),
        "daily",
        [TaperStep(TODAY, mg("2.5")), TaperStep(TODAY + timedelta(days=3), mg("1"))],
        TODAY,
    ),
    "monitoring.overdue_before_increase": lambda: monitoring_plan.overdue_before_increase(
        drug("lithium"), [LITHIUM_DUE], {}, TODAY
    ),
    "prescriber.supervisor_required": lambda: scope.prescriber_scope(PA, drug("sertraline")),
    "prescriber.specialist_drug": lambda: scope.prescriber_scope(GP, drug("clozapine")),
    "controlled.refills_exceeded": lambda: scope.refills_allowed(
        drug("methylphenidate"), 2, default_regulations()
    ),
    "controlled.telemedicine_flexibility": lambda: scope.telemedicine(
        drug("alprazolam"), ["telehealth"], NOW, default_regulations()
    ),
    "controlled.in_person_evaluation_required": lambda: scope.telemedicine(
        drug("alprazolam"), ["telehealth"], AFTER_FLEXIBILITY, default_regulations()
    ),
    "measurement.self_harm_risk": lambda: list(
        scored_measurement("PHQ-9", items=(0, 0, 0, 0, 0, 0, 0, 0, 2)).urgent
    ),
    "measurement.self_harm_item_unknown": lambda: list(
        scored_measurement("PHQ-9", total=14).warnings
    ),
    "measurement.suicidal_ideation_with_intent": lambda: list(
        scored_measurement("C-SSRS", total=5).urgent
    ),
    "lab.critical": lambda: critical_findings(
        read_lab_result("lithium_level", Decimal("2.1"), "mEq/L")
    ),
    "lamotrigine.rash": lambda: _check("rash_check"),
    "valproate.pregnancy": lambda: _check("pregnancy_status"),
    "allergy.documented": lambda: (
        allergies.allergy_findings(drug("lamotrigine"), {"drug:lamotrigine"}, FORMULARY)
        + allergies.allergy_findings(drug("lorazepam"), {"class:benzodiazepine"}, FORMULARY)
    ),
    "allergy.cross_reactive": lambda: allergies.allergy_findings(
        drug("oxcarbazepine"), {"drug:carbamazepine"}, FORMULARY
    ),
    "allergy.not_coded": lambda: allergies.uncoded_findings(["penicillin (hives)"]),
    "care_plan.already_open": _already_open,
    "consent.not_recorded": lambda: consent.consent_findings(
        drug("sertraline"), None, 40, frozenset()
    ),
    "consent.declined": lambda: consent.consent_findings(
        drug("sertraline"), replace(AGREED, decision="declines"), 40, frozenset()
    ),
    "consent.undecided": lambda: consent.consent_findings(
        drug("sertraline"), replace(AGREED, decision="undecided"), 40, frozenset()
    ),
    "consent.guardian_required": lambda: consent.consent_findings(
        drug("sertraline"), replace(AGREED, boxed_warning_discussed=True), 16, frozenset()
    ),
    "consent.monitoring_not_agreed": lambda: consent.consent_findings(
        drug("clozapine"), AGREED, 40, frozenset()
    ),
    "consent.boxed_warning_not_discussed": lambda: (
        consent.consent_findings(drug("sertraline"), AGREED, 19, frozenset())
        + consent.consent_findings(drug("quetiapine"), AGREED, 80, frozenset({"dementia"}))
    ),
    "consent.controlled_agreement_missing": lambda: consent.consent_findings(
        drug("lisdexamfetamine"), AGREED, 40, frozenset()
    ),
    "outcome.no_improvement": lambda: _prompts([(14, 0), (13, 50)]),
    "outcome.response_lost": lambda: _prompts([(20, 0), (8, 30), (16, 60)]),
    "outcome.sustained_remission": lambda: _prompts([(18, 0), (4, 60), (3, 150), (2, 250)]),
}


# Anything that reads like code, not like a clinician.
NOT_PROSE = re.compile(r"_|\bNone\b|[{}]|\s{2,}|\s[.,;:]|\.\.(?!\.)|\bTrue\b|\bFalse\b|<|>(?!\s)")


def rendered(code: str) -> list[Finding]:
    findings = [f for f in RENDER[code]() if f.code == code]
    assert findings, f"{code}: the case did not raise it"
    return findings


@pytest.mark.parametrize("code", sorted(RENDER))
def test_the_message_is_a_sentence_a_clinician_would_write(code: str) -> None:
    for finding in rendered(code):
        message = finding.message
        assert message[0].isupper(), (code, message)
        assert message.endswith((".", ".)")), (code, message)
        assert not NOT_PROSE.search(message), (code, message)
        assert len(message) < 600, (code, len(message))


@pytest.mark.parametrize("code", sorted(RENDER))
def test_the_source_is_one_a_user_can_open(code: str) -> None:
    for finding in rendered(code):
        assert finding.source.strip(), code
        assert "CLINICAL" not in finding.source, (code, finding.source)


def test_every_finding_code_in_the_domain_is_rendered_here() -> None:
    sources = "\n".join(p.read_text() for p in Path("domain").glob("*.py"))
    literal = set(re.findall(r'Finding\(\s*"([a-z_0-9.]+)"', sources))
    named = set(re.findall(r'"((?:interaction|therapy|outcome|consent)\.[a-z_0-9]+)"', sources))
    named |= {code for _, code, _ in CHECKS.values()}
    named |= {"care_plan.already_open"}
    assert (literal | named) - set(RENDER) == set()


def test_a_refused_direct_switch_says_what_would_happen_not_what_did() -> None:
    (finding,) = _switch_fluoxetine_to_phenelzine()
    assert "was stopped" not in finding.message
    assert "35 days after fluoxetine is stopped" in finding.message


def test_no_message_cites_the_teams_notes_in_the_plans_own_events() -> None:
    plan = evaluated_plan()
    plan.prescribe(
        "sertraline", mg("100"), "daily", "oral", "MDD", in_weeks(6), ctx(), formulary=FORMULARY
    )
    for event in plan.pending_events:
        for finding in getattr(event, "warnings", []):
            assert "CLINICAL" not in finding.source
