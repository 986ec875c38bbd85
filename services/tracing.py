"""The W3C ``traceparent`` of the request that wrote an event, kept for Kafka.

A command sent with a valid ``traceparent`` header stores it beside the events
it causes (``services.chain.recorders``, same transaction, not in the event's
payload: old events and the event schemas stay as they are), and the relay puts
it back on each message as the ``traceparent`` header, so a trace follows the
change from the HTTP call to every downstream consumer. A malformed value is
ignored, never refused: tracing must not cost a clinician a command.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

#: The traceparent of the command being run (set around HTTP command handlers).
TRACEPARENT: ContextVar[str | None] = ContextVar("traceparent", default=None)

# Version 00 of https://www.w3.org/TR/trace-context/#traceparent-header: lowercase hex.
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def valid_traceparent(header: str | None) -> str | None:
    """The header if it is a well-formed version-00 traceparent, else None.

    All-zero trace and parent ids are invalid by the specification; surrounding
    blanks are tolerated (proxies add them), anything else is dropped.
    """
    if header is None:
        return None
    value = header.strip()
    match = _TRACEPARENT.match(value)
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return value
