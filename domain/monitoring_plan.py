"""Required monitoring: the checks a medication brings with it, scheduled as due items.

From the labels and guidelines: lithium level 5-7 days after a start or change, renal function,
TSH and calcium at baseline, 3 months, then every 6-12 months; valproate liver
tests, blood count, level and pregnancy status; clozapine ANC weekly for 6
months, every 2 weeks to month 12, then monthly; antipsychotics (ADA/APA 2004)
weight at baseline, 4, 8 and 12 weeks, glucose and blood pressure and lipids at
baseline and 12 weeks, AIMS yearly; lamotrigine: ask about rash at each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from domain.formulary import Drug
from domain.plan_part import PlanEvent, PlanPart
from domain.safety import Finding
from domain.values import CommandContext, MonitoringItem

ADA_APA = "ADA/APA/AACE/NAASO consensus on antipsychotics and diabetes, Diabetes Care 2004"
CLOZAPINE_ANC_DAYS = (*range(0, 26 * 7, 7), *range(26 * 7, 52 * 7, 14))

# Days after the start at which each check is due, and why.
OFFSETS: dict[str, tuple[tuple[int, ...], str]] = {
    "lithium_level": ((7,), "lithium level 5-7 days after a start or change"),
    "renal_function": ((0, 91, 273), "renal function: baseline, 3 months, then 6-12 monthly"),
    "thyroid_function": ((0, 91, 273), "TSH: baseline, 3 months, then 6-12 monthly"),
    "calcium": ((0, 91, 273), "calcium: baseline, 3 months, then 6-12 monthly"),
    "liver_function": ((0, 30, 91, 182), "liver tests: baseline and in the first 6 months"),
    "cbc_platelets": ((0, 30, 91, 182), "blood count and platelets: baseline, first 6 months"),
    "valproate_level": ((7,), "valproate trough level at steady state"),
    "pregnancy_status": ((0,), "pregnancy status before valproate"),
    "anc": (CLOZAPINE_ANC_DAYS, "ANC weekly for 6 months, then every 2 weeks to month 12"),
    "weight": ((0, 28, 56, 84), "weight: baseline, 4, 8 and 12 weeks (" + ADA_APA + ")"),
    "glucose_a1c": ((0, 84), "glucose or A1c: baseline and 12 weeks (" + ADA_APA + ")"),
    "blood_pressure": ((0, 84), "blood pressure: baseline and 12 weeks"),
    "lipids": ((0, 84), "lipids: baseline and 12 weeks (" + ADA_APA + ")"),
    "aims": ((0, 365), "AIMS (tardive dyskinesia): baseline, then yearly"),
    "rash_check": ((14, 28, 35), "ask about rash at each lamotrigine step"),
    "ecg": ((0,), "ECG at baseline"),
    "sodium": ((0, 14, 91), "serum sodium: baseline, 2 weeks and 3 months (hyponatraemia)"),
}
# Checks repeated after every dose change, because they follow the dose.
AFTER_CHANGE = frozenset({"lithium_level", "valproate_level"})
# Dose increases that must wait for a current result.
LEVEL_BEFORE_INCREASE = {"lithium": "lithium_level", "clozapine": "anc"}
# A result this many days before the due date still counts for it.
EARLY_TOLERANCE = timedelta(days=3)


def items_for_start(drug: Drug, start: date) -> list[MonitoringItem]:
    return [
        MonitoringItem(test, start + timedelta(days=offset), reason)
        for test in drug.monitoring
        for offset in OFFSETS[test][0]
        for reason in (OFFSETS[test][1],)
    ]


def items_for_change(drug: Drug, changed: date) -> list[MonitoringItem]:
    return [
        MonitoringItem(test, changed + timedelta(days=OFFSETS[test][0][0]), OFFSETS[test][1])
        for test in drug.monitoring
        if test in AFTER_CHANGE
    ]


def is_done(item: MonitoringItem, results: Mapping[str, Iterable[date]]) -> bool:
    return any(taken >= item.due_on - EARLY_TOLERANCE for taken in results.get(item.test, ()))


def overdue_before_increase(
    drug: Drug,
    items: Iterable[MonitoringItem],
    results: Mapping[str, Iterable[date]],
    today: date,
) -> list[Finding]:
    """Raising lithium or clozapine while its level or ANC is overdue: check first."""
    test = LEVEL_BEFORE_INCREASE.get(drug.name)
    overdue = [
        item
        for item in items
        if item.test == test and item.due_on < today and not is_done(item, results)
    ]
    if not overdue:
        return []
    return [
        Finding(
            "monitoring.overdue_before_increase",
            "warn",
            f"The {test.replace('_', ' ')} due {overdue[0].due_on} for {drug.name} has no "
            "result; check it before raising the dose.",
            drug.source("monitoring"),
        )
    ]


@dataclass(frozen=True)
class DueItem:
    prescription_id: str
    item: MonitoringItem


class RequiredMonitoring(PlanPart):
    """The monitoring a medication requires, as due items of the plan."""

    #: When each kind of check was done, from recorded results (the monitoring part).
    lab_dates: dict[str, list[date]]

    class MonitoringScheduled(PlanEvent):
        prescription_id: str
        drug: str
        items: list[MonitoringItem]

        def apply(self, aggregate: Any) -> None:
            aggregate.monitoring.setdefault(self.prescription_id, []).extend(self.items)

    def _init_state(self) -> None:
        super()._init_state()
        self.monitoring: dict[str, list[MonitoringItem]] = {}

    def _schedule_monitoring(
        self, prescription_id: str, drug: Drug, items: list[MonitoringItem], ctx: CommandContext
    ) -> None:
        if items:
            self._record(
                self.MonitoringScheduled,
                ctx,
                prescription_id=prescription_id,
                drug=drug.name,
                items=items,
            )

    def due_items(self, today: date) -> list[DueItem]:
        """Open checks due by ``today`` (the worklist projection reads the same events)."""
        results = self.lab_dates
        return [
            DueItem(rx, item)
            for rx, items in self.monitoring.items()
            for item in items
            if item.due_on <= today and not is_done(item, results)
        ]
