"""Opaque page cursors: the sort key of the last row a page showed.

Keyset paging ("rows after this key", through an index ordered by that key)
stays stable while rows are added, unlike offsets, and costs the same on page
1000 as on page 1. The key is base64 so that clients pass it back untouched
instead of building their own; the prefix tells one list's cursors from
another's. A cursor that does not decode to the expected shape is refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

Key = tuple[str | int, ...]


def encode_key(prefix: str, key: Sequence[str | int]) -> str:
    text = prefix + json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_key(cursor: str, prefix: str, shape: Sequence[type]) -> Key:
    """The key ``encode_key`` wrote, checked against ``shape`` (the type of each part)."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        if not text.startswith(prefix):
            raise ValueError("invalid cursor")
        key = json.loads(text[len(prefix) :])
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(type(part) is kind for part, kind in zip(key, shape, strict=True))
    ):
        raise ValueError("invalid cursor")
    return tuple(key)
