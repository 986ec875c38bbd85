"""A care plan's whole record as a FHIR R4B Bundle, for auditors to take away.

- A ``MedicationRequest`` per prescription *version* (the start and every dose
  change), each linked to the one it replaced by ``priorPrescription``; the
  latest is active, stopped (with ``statusReason``) or entered in error; a taper
  shows as sequenced dosage lines.
- A ``MedicationStatement`` per medication taken now.
- ``Observation`` for each scale (LOINC where the total has a code) and lab result.
- ``Encounter`` per follow-up (telehealth is class ``VR``, in person ``AMB``).
- ``Consent`` per treatment agreed, pending or declined: what was discussed before a
  prescription (permit, or proposed while undecided) and medication the patient
  declined (deny).
- ``Provenance`` per stored event: who did what, when it happened, when recorded.
- ``AuditEvent`` per logged read of the record.

Built as plain dicts, validated by ``fhir.resources`` (structure, types) and by
``services.fhir_statuses`` (status codes, which the library does not check).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from fhir.resources.R4B.bundle import Bundle

from domain.care_plan import CarePlan
from domain.formulary import Formulary
from domain.prescribing import Prescription
from domain.values import Dose, Measurement, TaperStep
from projections.audit_trail import summarise
from services.fhir_statuses import check_codes

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ACTOR = "urn:careplan:actor"
EVENT_TYPE = "urn:careplan:event-type"
STOP_REASON = "urn:careplan:discontinuation-reason"

#: Scale totals with a LOINC code for the total score; the others are sent as text.
LOINC_TOTALS = {
    "PHQ-9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
    "GAD-7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score"),
}
ENCOUNTER_STATUS = {
    "scheduled": "planned",
    "completed": "finished",
    "missed": "cancelled",
    "cancelled": "cancelled",
    "entered_in_error": "entered-in-error",
}
STATEMENT_STATUS = {"active": "active", "tapering": "active"}


def export_bundle(
    plan: CarePlan,
    history: list[CarePlan.Event],
    formulary: Formulary,
    reads: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The record as a validated FHIR R4B collection Bundle (a JSON-ready dict)."""
    builder = _Builder(plan, history, formulary)
    resources = [
        builder.patient(),
        *builder.medication_requests(),
        *builder.medication_statements(),
        *builder.observations(),
        *builder.encounters(),
        *builder.consents(),
    ]
    resources += builder.provenance()
    resources += [builder.audit_event(read) for read in reads]
    bundle = {
        "resourceType": "Bundle",
        "id": builder.id("bundle", str(plan.version)),
        "type": "collection",
        "timestamp": _instant(history[-1].timestamp),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    validated = Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
    check_codes(validated)
    return validated


class _Builder:
    def __init__(self, plan: CarePlan, history: list[CarePlan.Event], formulary: Formulary):
        self.plan, self.history, self.formulary = plan, history, formulary
        self.in_error = set(plan.entries_in_error)
        self.patient_ref = {"reference": f"urn:uuid:{self.id('patient', plan.patient_id)}"}
        #: What each event produced, for Provenance.target.
        self.produced: dict[int, str] = {}

    def id(self, kind: str, key: str) -> str:
        return str(uuid5(NAMESPACE_URL, f"urn:careplan:{self.plan.id}:{kind}:{key}"))

    def patient(self) -> dict[str, Any]:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.id("patient", self.plan.patient_id),
            "identifier": [{"system": "urn:careplan:patient", "value": self.plan.patient_id}],
        }
        if self.plan.birth_date:
            patient["birthDate"] = self.plan.birth_date.isoformat()
        return patient

    # -- medications ------------------------------------------------------------

    def medication_requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        for rx in self.plan.prescriptions.values():
            orders = [
                e
                for e in self.history
                if isinstance(e, CarePlan.MedicationPrescribed | CarePlan.DoseChanged)
                and e.prescription_id == rx.prescription_id
            ]
            valid = [e for e in orders if e.originator_version not in self.in_error]
            prior: str | None = None
            for event in orders:
                request = self._request(rx, event, latest=bool(valid) and event is valid[-1])
                if prior and event.originator_version not in self.in_error:
                    request["priorPrescription"] = {"reference": f"urn:uuid:{prior}"}
                if event.originator_version not in self.in_error:
                    prior = request["id"]
                self.produced[event.originator_version] = request["id"]
                requests.append(request)
        return requests

    def _request(self, rx: Prescription, event: Any, *, latest: bool) -> dict[str, Any]:
        entered_in_error = (
            rx.status == "entered_in_error" or event.originator_version in self.in_error
        )
        if entered_in_error:
            status = "entered-in-error"
        elif not latest:
            status = "completed"  # replaced by the next version (priorPrescription)
        elif rx.status == "discontinued":
            status = "stopped"
        else:
            status = "active"
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.id("medication-request", str(event.originator_version)),
            "identifier": [{"system": "urn:careplan:prescription", "value": rx.prescription_id}],
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": self._medication(rx.drug),
            "subject": self.patient_ref,
            "authoredOn": _instant(event.occurred_at),
            "requester": _who(event.actor),
            "reasonCode": [{"text": rx.indication}],
            "dosageInstruction": self._dosage(rx, event.dose, latest=latest),
        }
        if status == "stopped":
            request["statusReason"] = {
                "coding": [{"system": STOP_REASON, "code": rx.end_reason_code or "other"}],
                "text": rx.end_reason or "",
            }
        return request

    def _dosage(self, rx: Prescription, dose: Dose, *, latest: bool) -> list[dict[str, Any]]:
        lines = [_dosage_line(rx, dose, 1)]
        if latest and rx.status == "tapering":  # the steps still to come, in order
            for number, step in enumerate(rx.taper[rx.taper_steps_taken :], start=2):
                lines.append(_dosage_line(rx, step.dose, number, step))
        return lines

    def _medication(self, drug_name: str) -> dict[str, Any]:
        drug = self.formulary.drugs.get(drug_name)
        concept: dict[str, Any] = {"text": drug_name}
        if drug is not None and drug.rxnorm:
            concept["coding"] = [{"system": RXNORM, "code": drug.rxnorm, "display": drug_name}]
        return concept

    def medication_statements(self) -> list[dict[str, Any]]:
        statements = []
        for rx in self.plan.active_prescriptions:
            latest = self.id("medication-request", str(_latest_version(rx, self)))
            statements.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": self.id("medication-statement", rx.prescription_id),
                    "status": STATEMENT_STATUS[rx.status],
                    "basedOn": [{"reference": f"urn:uuid:{latest}"}],
                    "medicationCodeableConcept": self._medication(rx.drug),
                    "subject": self.patient_ref,
                    "effectivePeriod": {"start": _instant(rx.started_at)},
                    "dosage": [_dosage_line(rx, rx.dose, 1)],
                }
            )
        return statements

    # -- observations and encounters --------------------------------------------

    def observations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for event in self.history:
            version = event.originator_version
            status = "entered-in-error" if version in self.in_error else "final"
            if isinstance(event, CarePlan.MeasurementRecorded):
                found.append(self._scale(event.instrument, event.total, event, status, "0"))
            elif isinstance(event, CarePlan.FollowUpCompleted):
                for n, measurement in enumerate(event.measurements):
                    found.append(self._scale_of(measurement, event, status, str(n)))
            elif isinstance(event, CarePlan.LabResultRecorded):
                found.append(self._lab(event, status))
            else:
                continue
            self.produced.setdefault(version, found[-1]["id"])
        return found

    # -- consent ----------------------------------------------------------------

    def consents(self) -> list[dict[str, Any]]:
        """The patient's decisions about medication, as FHIR Consent (treatment scope)."""
        found = []
        for event in self.history:
            if isinstance(event, CarePlan.MedicationPrescribed) and event.discussion:
                decision = event.discussion.decision
                permit = "deny" if decision == "declines" else "permit"
                status = "proposed" if decision == "undecided" else "active"
                text = f"{event.drug}: {event.discussion.expected_benefit}"
            elif (
                isinstance(event, CarePlan.TreatmentDecisionRecorded)
                and event.decision == "medication_declined"
            ):
                permit, status, text = "deny", "active", f"medication declined: {event.reason}"
            else:
                continue
            version = event.originator_version
            consent = {
                "resourceType": "Consent",
                "id": self.id("consent", str(version)),
                "status": "entered-in-error" if version in self.in_error else status,
                "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
                "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
                "patient": self.patient_ref,
                "dateTime": _instant(event.occurred_at),
                "performer": [_who(event.actor)],
                "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
                "provision": {"type": permit, "purpose": [{"system": ACT_REASON, "code": "TREAT"}]},
                "sourceAttachment": {"contentType": "text/plain", "title": text},
            }
            self.produced[version] = consent["id"]
            found.append(consent)
        return found

    def _scale_of(self, m: Measurement, event: Any, status: str, n: str) -> dict[str, Any]:
        return self._scale(m.instrument, m.total, event, status, n)

    def _scale(
        self, instrument: str, total: int, event: Any, status: str, n: str
    ) -> dict[str, Any]:
        code: dict[str, Any] = {"text": f"{instrument} total score"}
        if instrument in LOINC_TOTALS:
            loinc, display = LOINC_TOTALS[instrument]
            code["coding"] = [{"system": LOINC, "code": loinc, "display": display}]
        return {
            "resourceType": "Observation",
            "id": self.id("observation", f"{event.originator_version}:{n}"),
            "status": status,
            "category": [_category("survey")],
            "code": code,
            "subject": self.patient_ref,
            "effectiveDateTime": _instant(event.occurred_at),
            "performer": [_who(event.actor)],
            "valueInteger": total,
        }

    def _lab(self, event: Any, status: str) -> dict[str, Any]:
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.id("observation", f"{event.originator_version}:lab"),
            "status": status,
            "category": [_category("laboratory")],
            "code": {
                "coding": [{"system": "urn:careplan:lab-test", "code": event.test}],
                "text": event.test.replace("_", " "),
            },
            "subject": self.patient_ref,
            "effectiveDateTime": _instant(event.collected_at),
            "issued": _instant(event.timestamp),
            "valueQuantity": {"value": _number(event.value), "unit": event.unit},
        }
        if event.reference_low is not None or event.reference_high is not None:
            bounds: dict[str, Any] = {}
            if event.reference_low is not None:
                bounds["low"] = {"value": _number(event.reference_low), "unit": event.unit}
            if event.reference_high is not None:
                bounds["high"] = {"value": _number(event.reference_high), "unit": event.unit}
            observation["referenceRange"] = [bounds]
        if event.flag:
            observation["interpretation"] = [{"text": event.flag}]
        return observation

    def encounters(self) -> list[dict[str, Any]]:
        encounters = []
        for follow_up in self.plan.follow_ups.values():
            virtual = follow_up.modality == "telehealth"
            start = follow_up.completed_at or follow_up.due_on
            encounter = {
                "resourceType": "Encounter",
                "id": self.id("encounter", follow_up.follow_up_id),
                "status": ENCOUNTER_STATUS[follow_up.status],
                "class": {
                    "system": ACT_CODE,
                    "code": "VR" if virtual else "AMB",
                    "display": "virtual" if virtual else "ambulatory",
                },
                "subject": self.patient_ref,
                "period": {"start": _instant(start)},
                "reasonCode": [{"text": follow_up.purpose}] if follow_up.purpose else None,
            }
            encounters.append({k: v for k, v in encounter.items() if v is not None})
            for event in self.history:
                if getattr(event, "follow_up_id", None) == follow_up.follow_up_id:
                    self.produced.setdefault(event.originator_version, encounter["id"])
        return encounters

    # -- who did what, who looked -------------------------------------------------

    def provenance(self) -> list[dict[str, Any]]:
        patient = self.patient_ref["reference"]
        return [
            {
                "resourceType": "Provenance",
                "id": self.id("provenance", str(event.originator_version)),
                "target": [
                    {
                        "reference": (
                            f"urn:uuid:{self.produced[event.originator_version]}"
                            if event.originator_version in self.produced
                            else patient
                        )
                    }
                ],
                "occurredDateTime": _instant(event.occurred_at),
                "recorded": _instant(event.timestamp),
                "activity": {
                    "coding": [{"system": EVENT_TYPE, "code": type(event).__name__}],
                    "text": summarise(event),
                },
                "agent": [{"who": _who(event.actor)}],
            }
            for event in self.history
        ]

    def audit_event(self, read: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {
            "resourceType": "AuditEvent",
            "id": self.id("audit-event", str(read["id"])),
            "type": {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
            "action": "R",
            "recorded": read["at"],
            "outcome": "0" if read["status"] < 400 else "4",
            "agent": [
                {
                    "who": {
                        "identifier": {"system": ACTOR, "value": read["actor_id"]},
                        "display": f"{read['actor_id']} ({read['role']})",
                    },
                    "requestor": True,
                }
            ],
            "source": {"observer": {"display": "Careplan API"}},
            "entity": [
                {"what": self.patient_ref, "description": f"{read['method']} {read['endpoint']}"}
            ],
        }
        if read.get("purpose"):
            purpose = {"system": ACT_REASON, "code": read["purpose"]}
            event["purposeOfEvent"] = [{"coding": [purpose]}]
        return event


def _latest_version(rx: Prescription, builder: _Builder) -> int:
    return max(
        e.originator_version
        for e in builder.history
        if isinstance(e, CarePlan.MedicationPrescribed | CarePlan.DoseChanged)
        and e.prescription_id == rx.prescription_id
        and e.originator_version not in builder.in_error
    )


def _dosage_line(
    rx: Prescription, dose: Dose, sequence: int, step: TaperStep | None = None
) -> dict[str, Any]:
    timing: dict[str, Any] = {"code": {"text": rx.frequency.replace("_", " ")}}
    if step is not None:
        timing["repeat"] = {"boundsPeriod": {"start": step.starts_on.isoformat()}}
    return {
        "sequence": sequence,
        "text": f"{format(dose.amount, 'f')} {dose.unit} {rx.frequency.replace('_', ' ')}",
        "timing": timing,
        "route": {"text": rx.route},
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": _number(dose.amount),
                    "unit": dose.unit,
                    "system": UCUM,
                    "code": dose.unit,
                }
            }
        ],
    }


def _category(code: str) -> dict[str, Any]:
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": code}]}


def _who(actor: Any) -> dict[str, Any]:
    reference: dict[str, Any] = {"identifier": {"system": ACTOR, "value": actor.id}}
    reference["display"] = f"{actor.name or actor.id} ({actor.role})"
    return reference


def _instant(moment: datetime | date) -> str:
    """ISO 8601: a dateTime with its zone, or a date (a follow-up not yet held)."""
    return moment.isoformat()


def _number(value: Decimal) -> float | int:
    """FHIR decimals travel as JSON numbers; whole amounts stay integers."""
    return int(value) if value == value.to_integral_value() else float(value)
