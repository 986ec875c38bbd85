"""structlog configured once: JSON in production, readable console in development.

Log lines carry ids and event names (``care_plan.prescribed``), never patient
details; the audit trail is a projection, not a log file.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog


class _Stderr:
    """``sys.stderr`` as it is when a line is written: whoever swaps it (a test
    runner capturing output) gets the lines, and a closed old one is never used."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return value


def no_control_characters(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A value taken from a request (a URL, a header) is logged with its control
    characters escaped: an ESC sequence in a path must not drive the operator's
    terminal, nor a newline forge a log line."""
    return {
        key: value if key == "exception" else _escaped(value)  # a traceback keeps its lines
        for key, value in event_dict.items()
    }


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            no_control_characters,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
