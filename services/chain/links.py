"""The hash chain, as pure functions: how one link is computed and how a plan's
stored events are checked against their links.

A link is an HMAC-SHA-256, under a key kept outside the database (the chain
key), over the previous link and the event exactly as stored: its plan, version,
topic (type and class) and state (the payload, with actor, clinical time and
recording time inside it). Hashing the stored bytes, not a re-encoding, means
verification needs no decoding and cannot be fooled by a decoder that tolerates a
changed field; the key means that write access to the database alone cannot
compute a chain for a forged event. The first link of a plan starts from
``GENESIS``.

Links written before the chain had a key are plain SHA-256 ("unkeyed"). A plan's
first keyed link covers everything before it; an unkeyed link after a keyed one
can only be a forgery, and is named as one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GENESIS = "0" * 64


class ChainBroken(Exception):
    """A plan's chain has no link for the event before the new ones: a link was
    deleted. The plan takes no new events until an auditor has looked (a new link
    computed from the stored rows would bless whatever they now hold)."""

    def __init__(self, plan_id: str, version: int) -> None:
        super().__init__(f"plan {plan_id}: no link for version {version}; the chain is broken")
        self.plan_id = plan_id
        self.version = version


def link(
    previous: str, plan_id: str, version: int, topic: str, state: bytes, key: bytes | None = None
) -> str:
    """The link of one event: keyed (HMAC) when ``key`` is given, else plain SHA-256."""
    digest = hmac.new(key, digestmod=hashlib.sha256) if key else hashlib.sha256()
    for part in (previous.encode(), plan_id.encode(), str(version).encode(), topic.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(len(state).to_bytes(8, "big"))
    digest.update(state)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredRow:
    """An event row as the store holds it."""

    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class Finding:
    """Something wrong with one plan's chain: ``what`` says which kind."""

    plan_id: str
    version: int
    what: str  # altered, missing, unchained, unkeyed, reordered, snapshot_forged

    def __str__(self) -> str:
        return f"plan {self.plan_id}: version {self.version} {self.what.replace('_', ' ')}"


def check_plan(
    plan_id: str, rows: Sequence[StoredRow], links: dict[int, str], key: bytes | None = None
) -> tuple[list[Finding], str | None]:
    """Findings for one plan, and its head link (None when there are findings)."""
    findings: list[Finding] = []
    previous = GENESIS
    expected_version = 1
    keyed = False
    for row in sorted(rows, key=lambda r: r.version):
        while expected_version < row.version:  # a deleted event leaves a gap
            findings.append(Finding(plan_id, expected_version, "missing"))
            previous = links.get(expected_version, previous)
            expected_version += 1
        stored = links.get(row.version)
        signed = link(previous, plan_id, row.version, row.topic, row.state, key) if key else None
        plain = link(previous, plan_id, row.version, row.topic, row.state)
        if stored is None:
            findings.append(Finding(plan_id, row.version, "unchained"))
        elif stored == signed:
            keyed = True
        elif stored == plain:
            if keyed:  # after a keyed link: computed by someone without the key
                findings.append(Finding(plan_id, row.version, "unkeyed"))
        else:
            findings.append(Finding(plan_id, row.version, _why(plan_id, row, links, key)))
        previous = stored or signed or plain
        expected_version = row.version + 1
    for version in sorted(v for v in links if v >= expected_version):
        findings.append(Finding(plan_id, version, "missing"))  # the newest ones deleted
    return findings, (previous if not findings and rows else None)


def _why(plan_id: str, row: StoredRow, links: dict[int, str], key: bytes | None) -> str:
    """Altered, or moved: the row's content belongs at another version."""
    for version, other in links.items():
        if version == row.version:
            continue
        before = links.get(version - 1, GENESIS)
        for each in {key, None}:
            if link(before, plan_id, version, row.topic, row.state, each) == other:
                return "reordered"
    return "altered"


def seal(heads: Iterable[tuple[str, int, str]]) -> str:
    """One line that stands for every chain: (plan, head version, head link) sorted."""
    digest = hashlib.sha256()
    count = 0
    for plan_id, version, head in sorted(heads):
        digest.update(f"{plan_id}:{version}:{head}\n".encode())
        count += 1
    return f"careplan-seal:v1:{count}:{digest.hexdigest()}"
