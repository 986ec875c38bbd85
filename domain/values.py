"""Value objects and controlled vocabularies shared by commands and events.

They validate themselves on construction, so an event can never carry a dose of
zero or a unit nobody can dispense, however the command reached the domain.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from domain.errors import InvalidValue

ROLES = frozenset({"prescriber", "clinician", "auditor", "service", "admin"})
PROFESSIONS = frozenset({"psychiatrist", "psychiatric_np", "physician_assistant", "primary_care"})
MODALITIES = frozenset({"in_person", "telehealth"})
EVALUATION_KINDS = frozenset({"initial", "reassessment"})
DOSE_UNITS = frozenset({"mg", "mcg", "g", "mL", "mg/mL", "units"})
FREQUENCIES = frozenset(
    {
        "daily",
        "twice_daily",
        "three_times_daily",
        "four_times_daily",
        "at_bedtime",
        "every_other_day",
        "weekly",
        "as_needed",
    }
)
# Conditions that change dosing, named as the formulary's special populations.
CONDITIONS = frozenset(
    {
        "hepatic_impairment",
        "hepatic_impairment_moderate",
        "hepatic_impairment_severe",
        "renal_impairment_mild_moderate",
        "renal_impairment_severe",
        "cyp2c19_poor_metaboliser",
        "cyp2d6_poor_metaboliser",
        "pregnant",
        "benign_ethnic_neutropenia",
        # Antipsychotics carry a boxed warning for older people with dementia.
        "dementia",
    }
)
# What the label's maxima depend on besides the patient: the form, the indication
# (from the labels' own lists) and the care setting (formulary ``special_maxima``).
FORMS = frozenset({"ir", "sr", "er", "xl", "oros", "dr", "odt", "patch", "oral_solution"})
LABELLED_INDICATIONS = frozenset(
    {"bipolar_depression", "bipolar_mania", "mdd_adjunct", "panic_disorder", "ocd"}
)
CARE_SETTINGS = frozenset({"outpatient", "inpatient"})
ROUTES = frozenset(
    {"oral", "sublingual", "transdermal", "intramuscular", "subcutaneous", "intravenous"}
)

# Clocks of clinical devices drift; a few minutes ahead is not "the future".
CLOCK_SKEW = timedelta(minutes=5)

# Nothing in a living patient's care plan happened before this.
EARLIEST_CLINICAL_TIME = datetime(1900, 1, 1, tzinfo=UTC)

# Unicode categories of format, line and paragraph separators: invisible in an id.
_INVISIBLE = frozenset({"Cf", "Zl", "Zp", "Co", "Cs"})

# Characters that have no place in clinical text and that PostgreSQL cannot store (NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Generous upper bound that still catches unit slips (grams typed as milligrams).
MAX_DOSE_AMOUNT = Decimal("100000")


def require_choice(value: str, allowed: frozenset[str], code: str, what: str) -> str:
    """Refuse a value outside a controlled vocabulary, naming the allowed ones."""
    if value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise InvalidValue(code, f"Unknown {what} {value!r}; expected one of: {choices}.")
    return value


def require_text(value: str, code: str, what: str) -> str:
    """Strip a free-text value and refuse it when nothing is left or it hides control bytes."""
    stripped = value.strip()
    if not stripped:
        raise InvalidValue(code, f"{what} must not be empty.")
    refuse_control_characters(stripped, what)
    return stripped


def require_identifier(value: str, code: str, what: str) -> str:
    """An id a person reads and compares (a patient id, a member id): besides what
    ``require_text`` refuses, no invisible or direction-changing characters (U+202E,
    U+200B, U+FEFF, U+2066 …), by which one id could be made to look like another."""
    value = require_text(value, code, what)
    if any(unicodedata.category(char) in _INVISIBLE for char in value):
        raise InvalidValue(
            "text.invisible_character", f"{what} contains an invisible or bidirectional character."
        )
    return value


def refuse_control_characters(value: str, what: str) -> str:
    if _CONTROL.search(value):
        raise InvalidValue("text.control_character", f"{what} contains a control character.")
    return value


@lru_cache(maxsize=4096)
def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC text (microseconds, Z): sorts in time order as plain text.

    Cached: a rebuild asks for the same event's times once per view (equal
    datetimes are the same instant, so they have the same answer)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Actor:
    """Who did it: stored on every event so the audit trail needs no other source."""

    id: str
    role: str
    name: str | None = None
    supervisor_id: str | None = None
    profession: str | None = None

    def __post_init__(self) -> None:
        require_text(self.id, "actor.invalid", "Actor id")
        require_choice(self.role, ROLES, "actor.unknown_role", "role")
        if self.profession is not None:
            require_choice(self.profession, PROFESSIONS, "actor.unknown_profession", "profession")
        for value in (self.name, self.supervisor_id):
            if value is not None:
                refuse_control_characters(value, "Actor name")


@dataclass(frozen=True)
class Dose:
    """An amount of drug per administration, kept as a Decimal to avoid float drift."""

    amount: Decimal
    unit: str

    def __post_init__(self) -> None:
        try:
            amount = Decimal(self.amount)
        except (InvalidOperation, TypeError, ValueError):
            raise InvalidValue(
                "dose.invalid", f"Dose amount {self.amount!r} is not a number."
            ) from None
        if not amount.is_finite() or amount <= 0:
            raise InvalidValue("dose.not_positive", "Dose amount must be a positive number.")
        if amount > MAX_DOSE_AMOUNT:
            raise InvalidValue("dose.implausible", f"Dose amount {amount} is implausibly large.")
        # Plain notation without trailing zeros: 1E+2 → 100, 37.50 → 37.5.
        object.__setattr__(self, "amount", Decimal(format(amount.normalize(), "f")))
        require_choice(self.unit, DOSE_UNITS, "dose.unknown_unit", "dose unit")

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


#: Code systems a diagnosis may be coded in (FHIR system URIs).
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED_CT = "http://snomed.info/sct"


@dataclass(frozen=True)
class Diagnosis:
    """A coded diagnosis: the code, its display text and the code system (ICD-10-CM
    unless said otherwise). Checked against the code set when an evaluation records
    it (``domain.terminology``), not here: stored diagnoses must always load."""

    code: str
    display: str
    system: str = ICD10CM

    def __post_init__(self) -> None:
        require_text(self.code, "diagnosis.invalid", "Diagnosis code")
        require_text(self.display, "diagnosis.invalid", "Diagnosis display")


@dataclass(frozen=True)
class FollowUpPlan:
    """When and how the patient will be seen next; planned with every start or change."""

    due_on: date
    modality: str = "in_person"
    purpose: str = "medication review"

    def __post_init__(self) -> None:
        require_choice(self.modality, MODALITIES, "follow_up.unknown_modality", "modality")
        require_text(self.purpose, "follow_up.invalid", "Follow-up purpose")


@dataclass(frozen=True)
class Measurement:
    """A rating scale taken at a visit (PHQ-9, GAD-7, …): its total, and its item
    scores where the instrument's licence allows them (empty: given as a total)."""

    instrument: str
    total: int
    items: tuple[int, ...] = ()


#: ICF qualifiers for how much a problem limits a domain of life (WHO ICF, 2001).
FUNCTIONING_LEVELS = frozenset({"none", "mild", "moderate", "severe", "complete"})


@dataclass(frozen=True)
class Functioning:
    """How much the patient's problems limit daily life, by domain (ICF qualifiers):
    the measure of success is functioning, not only symptom scores."""

    work_or_school: str | None = None
    relationships: str | None = None
    daily_tasks: str | None = None

    def __post_init__(self) -> None:
        for name in ("work_or_school", "relationships", "daily_tasks"):
            level = getattr(self, name)
            if level is not None:
                require_choice(level, FUNCTIONING_LEVELS, "functioning.unknown_level", name)


PATIENT_DECISIONS = frozenset({"agrees", "declines", "undecided"})
#: Who gave the decision: the patient, or for a minor or a patient without capacity,
#: the person entitled to decide for them.
DECIDED_BY = frozenset({"patient", "parent", "guardian", "healthcare_proxy"})


@dataclass(frozen=True)
class Discussion:
    """What was explained before a prescription and what the patient decided: the
    options, the expected benefit, the side effects, a realistic timeline, and the
    agreements some drugs need (clozapine's monitoring, a boxed warning, a
    controlled-substance agreement)."""

    options_considered: tuple[str, ...]
    expected_benefit: str
    side_effects_discussed: tuple[str, ...]
    timeline: str
    decision: str
    decided_by: str = "patient"
    boxed_warning_discussed: bool = False
    monitoring_agreed: bool = False
    controlled_substance_agreement: bool = False

    def __post_init__(self) -> None:
        require_choice(self.decision, PATIENT_DECISIONS, "discussion.unknown_decision", "decision")
        require_choice(self.decided_by, DECIDED_BY, "discussion.unknown_decider", "decided by")
        require_text(self.expected_benefit, "discussion.benefit_required", "Expected benefit")
        require_text(self.timeline, "discussion.timeline_required", "Timeline")
        if not self.options_considered:
            raise InvalidValue(
                "discussion.options_required", "Name the options considered (drugs or not)."
            )
        for text in (*self.options_considered, *self.side_effects_discussed):
            require_text(text, "discussion.invalid", "Discussion item")


@dataclass(frozen=True)
class Evaluation:
    """What the prescriber learned before deciding on treatment (the evaluation comes first)."""

    kind: str
    modality: str
    diagnoses: tuple[Diagnosis, ...]
    symptoms: tuple[str, ...] = ()
    current_medications: tuple[str, ...] = ()
    supplements: tuple[str, ...] = ()
    allergies: tuple[str, ...] = ()
    duration: str | None = None
    functional_impact: str | None = None
    history: str | None = None
    sleep: str | None = None
    stress: str | None = None
    substance_use: str | None = None
    conditions: frozenset[str] = frozenset()
    #: Conditions recorded earlier that have ended (a pregnancy, a resolved impairment).
    resolved_conditions: frozenset[str] = frozenset()
    #: Body weight, for maxima given per kilogram (divalproex 60 mg/kg/day).
    weight_kg: Decimal | None = None
    #: The birth date, where the plan was opened without one (age limits need it).
    birth_date: date | None = None
    #: Functional impact in structured form (the free text stays in functional_impact).
    functioning: Functioning | None = None

    def __post_init__(self) -> None:
        require_choice(self.kind, EVALUATION_KINDS, "evaluation.unknown_kind", "evaluation kind")
        for condition in self.conditions | self.resolved_conditions:
            require_choice(condition, CONDITIONS, "evaluation.unknown_condition", "condition")
        if self.weight_kg is not None and not Decimal("0.5") <= self.weight_kg <= 400:
            raise InvalidValue(
                "evaluation.weight_implausible",
                f"A body weight of {self.weight_kg} kg is implausible (0.5 to 400 kg).",
            )
        if both := sorted(self.conditions & self.resolved_conditions):
            raise InvalidValue(
                "evaluation.condition_contradictory",
                f"{', '.join(both)} cannot be both present and resolved.",
            )
        require_choice(self.modality, MODALITIES, "evaluation.unknown_modality", "modality")
        if self.kind == "initial" and not self.diagnoses:
            raise InvalidValue(
                "evaluation.diagnosis_required",
                "An initial evaluation must record at least one working diagnosis.",
            )


@dataclass(frozen=True)
class UseContext:
    """How a drug is used, where the label sets a different maximum for it: the form
    (bupropion XL), the indication (paroxetine for OCD, aripiprazole as an adjunct)
    or the setting (trazodone for inpatients). Unknown is allowed: the usual maximum
    then applies."""

    form: str | None = None
    indication_code: str | None = None
    setting: str = "outpatient"

    def __post_init__(self) -> None:
        if self.form is not None:
            require_choice(self.form, FORMS, "prescription.unknown_form", "form")
        if self.indication_code is not None:
            require_choice(
                self.indication_code,
                LABELLED_INDICATIONS,
                "prescription.unknown_indication_code",
                "indication code",
            )
        require_choice(self.setting, CARE_SETTINGS, "prescription.unknown_setting", "setting")

    @property
    def populations(self) -> frozenset[str]:
        """The formulary's population names for this use (``form_xl``, ``ocd``, …)."""
        found = {self.indication_code} if self.indication_code else set()
        if self.form:
            found.add(f"form_{self.form}")
        if self.setting == "inpatient":
            found.add("inpatient")
            if self.form:
                found.add(f"form_{self.form}_inpatient")
        return frozenset(found)


@dataclass(frozen=True)
class CommandContext:
    """Who is acting, when it happened clinically, and which request carried it.

    ``occurred_at`` is clinical time and may lie in the past (a late entry); the
    time of recording is the event's own timestamp, set when it is triggered.
    """

    actor: Actor
    occurred_at: datetime
    correlation_id: str | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise InvalidValue("time.naive", "Clinical times must carry a time zone.")
        if self.occurred_at > datetime.now(UTC) + CLOCK_SKEW:
            raise InvalidValue("time.in_future", "A clinical event cannot occur in the future.")
        if self.occurred_at < EARLIEST_CLINICAL_TIME:
            raise InvalidValue("time.implausible", "A clinical event cannot predate 1900.")
        # One instant, one spelling: clinical times are kept in UTC.
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))


DISCONTINUATION_REASONS = frozenset(
    {
        "ineffective",
        "side_effects",
        "remission",
        "patient_preference",
        "adverse_reaction",
        "interaction",
        "switched",
        "taper_completed",
        "other",
    }
)
SWITCH_STRATEGIES = frozenset({"direct", "cross_taper", "washout"})


@dataclass(frozen=True)
class TaperStep:
    """One dated step of a taper: from ``starts_on`` the patient takes ``dose``."""

    starts_on: date
    dose: Dose


@dataclass(frozen=True)
class ReviewPrompt:
    """What a new score says about one prescription (no improvement after an adequate
    trial, remission long enough to discuss tapering, a response lost)."""

    prescription_id: str
    drug: str
    code: str
    message: str
    source: str


@dataclass(frozen=True)
class MonitoringItem:
    """A check due on a date because of a medication (a level, a lab, a measurement)."""

    test: str
    due_on: date
    reason: str
