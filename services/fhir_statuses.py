"""FHIR R4B status codes, checked by us: ``fhir.resources`` validates structure and
types but accepts any string as a ``status``, and a wrong status is exactly the
mistake that would make a receiving EHR show a stopped drug as active.

Value sets from the R4B specification (hl7.org/fhir/R4B), required bindings.
"""

from __future__ import annotations

from typing import Any

REQUIRED_STATUS: dict[str, frozenset[str]] = {
    # medicationrequest-status
    "MedicationRequest": frozenset(
        {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft"}
        | {"unknown"}
    ),
    # medication-statement-status
    "MedicationStatement": frozenset(
        {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold"}
        | {"unknown", "not-taken"}
    ),
    # observation-status
    "Observation": frozenset(
        {"registered", "preliminary", "final", "amended", "corrected", "cancelled"}
        | {"entered-in-error", "unknown"}
    ),
    # encounter-status
    "Encounter": frozenset(
        {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled"}
        | {"entered-in-error", "unknown"}
    ),
    # consent-state-codes
    "Consent": frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
    # Patient, Provenance, AuditEvent have no status element.
}
#: MedicationRequest.intent (medicationrequest-intent), Bundle.type (bundle-type).
INTENTS = frozenset(
    {"proposal", "plan", "order", "original-order", "reflex-order", "filler-order"}
    | {"instance-order", "option"}
)
BUNDLE_TYPES = frozenset(
    {"document", "message", "transaction", "transaction-response", "batch"}
    | {"batch-response", "history", "searchset", "collection"}
)


class InvalidStatus(ValueError):
    """A resource carries a code outside its required value set."""


def check_codes(bundle: dict[str, Any]) -> None:
    """Raise on the first status, intent or bundle type outside its value set."""
    if bundle.get("type") not in BUNDLE_TYPES:
        raise InvalidStatus(f"Bundle.type {bundle.get('type')!r}")
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        kind = resource["resourceType"]
        allowed = REQUIRED_STATUS.get(kind)
        if allowed is not None and resource.get("status") not in allowed:
            raise InvalidStatus(f"{kind}/{resource.get('id')} status {resource.get('status')!r}")
        if kind == "MedicationRequest" and resource.get("intent") not in INTENTS:
            raise InvalidStatus(f"{kind}/{resource.get('id')} intent {resource.get('intent')!r}")
