"""The copy a command is judged on shares nothing with the cached plan."""

from __future__ import annotations

import copy

from services.application import independent_copy
from tests.unit.clinic import FORMULARY, ctx, mg, on_sertraline


def test_a_copy_is_the_same_plan_and_changing_it_leaves_the_original_alone() -> None:
    original, rx = on_sertraline()
    original.collect_events()
    as_it_was = copy.deepcopy(vars(original))
    copied = independent_copy(original)
    assert copied is not original
    assert vars(copied) == vars(original)

    copied.change_dose(rx, mg("50"), "partial response", None, ctx(), formulary=FORMULARY)
    copied.record_adherence("taking_as_prescribed", ctx(), prescription_id=rx, note="copy")

    assert copied.version == original.version + 2
    assert vars(copied) != as_it_was
    assert vars(original) == as_it_was  # nothing nested was shared
    assert original.collect_events() == []
