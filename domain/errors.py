"""One family of domain errors, each with a stable ``code`` clients can branch on.

Messages name ids, never patient text: they end up in logs and HTTP responses.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain can give."""

    code = "domain.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """Something the command names does not exist in this plan (HTTP 404)."""

    code = "not_found"


class CarePlanNotFound(NotFound):
    code = "care_plan.not_found"

    def __init__(self, care_plan_id: object) -> None:
        super().__init__(f"Care plan {care_plan_id} does not exist.")


class PrescriptionNotFound(NotFound):
    code = "prescription.not_found"

    def __init__(self, prescription_id: object) -> None:
        super().__init__(f"Prescription {prescription_id} is not part of this care plan.")


class FollowUpNotFound(NotFound):
    code = "follow_up.not_found"

    def __init__(self, follow_up_id: object) -> None:
        super().__init__(f"Follow-up {follow_up_id} is not part of this care plan.")


class RuleViolation(DomainError):
    """A clinical or workflow rule refuses the command as asked (HTTP 409)."""

    code = "rule.violated"

    def __init__(self, code: str, message: str, source: str | None = None) -> None:
        super().__init__(message, code=code)
        self.source = source


class InvalidValue(DomainError):
    """A value is malformed or clinically meaningless (HTTP 422)."""

    code = "value.invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class ConcurrentUpdate(DomainError):
    """Someone else changed the plan between our read and our write (HTTP 409)."""

    code = "care_plan.concurrent_update"

    def __init__(self, care_plan_id: object) -> None:
        super().__init__(
            f"Care plan {care_plan_id} was changed by another request; reload and retry."
        )


class StaleVersion(DomainError):
    """The caller's If-Match names a version the plan has moved past (HTTP 412)."""

    code = "care_plan.version_mismatch"

    def __init__(self, care_plan_id: object, expected: int, actual: int) -> None:
        super().__init__(
            f"Care plan {care_plan_id} is at version {actual}, not {expected}; reload it."
        )
