"""Which traceparent headers are kept: W3C version 00, lowercase hex, non-zero ids."""

from __future__ import annotations

import pytest

from services.tracing import valid_traceparent

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_well_formed_traceparent_is_kept_without_surrounding_blanks() -> None:
    assert valid_traceparent(VALID) == VALID
    assert valid_traceparent(f"  {VALID} ") == VALID


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        VALID.upper(),
        VALID[:-1],
        VALID + "-extra",
        "01" + VALID[2:],
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    ],
)
def test_anything_else_is_ignored(header: str | None) -> None:
    assert valid_traceparent(header) is None
