"""Validate a published value against the schema file its ``ce_type`` names."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_DIRECTORY = Path(__file__).parents[2] / "infra" / "schemas"


@cache
def schema_validator(ce_type: str) -> Draft202012Validator:
    """The stored schema of one event type and version, checking formats too."""
    schema = json.loads((SCHEMA_DIRECTORY / f"{ce_type}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_message(value: Any, ce_type: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``value`` is what the schema allows."""
    schema_validator(ce_type).validate(value)
