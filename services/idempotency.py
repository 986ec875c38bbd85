"""Idempotency keys: a retried command gets the first answer and stores nothing new.

A client that lost the answer to a command (timeout, dropped connection) sends it
again with the same ``Idempotency-Key``. The first request claims the key with
a fingerprint of what it asked (method, path, body); the answer is kept with it.
The same key and the same request get that answer again; the same key with
another request is a client bug (422); a key whose first request is still
running is 409. Keys belong to the actor who used them and are kept at least
``ttl`` (24 hours by default) in the views' database, so they survive restarts.

The answer is kept here in a second transaction after the events are stored; if
the server dies between the two, or the command's outcome was unknown (a lost
connection), the claim is left without an answer (``Unanswered``). The command's
result was stored with its events, though (``services.exactly_once``): a retry
looks there first, and runs the command again only if it is not. A claim without
an answer is in progress for ``ABANDONED_AFTER`` (409 meanwhile), unless its
request ended (``release``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from projections.store import ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS careplan_idempotency (
    actor_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    content_type TEXT,
    body TEXT,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (actor_id, idempotency_key)
)"""
# Expired keys are swept by age.
INDEX = """
CREATE INDEX IF NOT EXISTS careplan_idempotency_claimed_at
    ON careplan_idempotency (claimed_at)"""

#: A claim with no answer after this long is taken to be from a process that died.
ABANDONED_AFTER = timedelta(seconds=60)
#: The status of a key whose request ended without an answer to keep (``release``).
RELEASED = 0


@dataclass(frozen=True)
class Answer:
    """The first response to a key, to be sent again."""

    status: int
    content_type: str
    body: str


@dataclass(frozen=True)
class Claimed:
    """The key is ours: run the command, then ``remember`` its answer."""


@dataclass(frozen=True)
class Unanswered:
    """The key was used before and has no answer: the first request is still running
    (``in_progress``), or ended without one. Look for the command's stored result
    before running it; ``take_over`` the key to run it."""

    claimed_at: str
    in_progress: bool


@dataclass(frozen=True)
class Refused:
    """The key cannot be used for this request."""

    code: str
    status: int
    detail: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class IdempotencyKeys:
    """The keys and their answers, in the views' database."""

    def __init__(self, store: ViewStore, ttl: timedelta = timedelta(hours=24)) -> None:
        self.store = store
        self.ttl = ttl
        store.create_tables([TABLE, INDEX])

    def claim(
        self, actor_id: str, key: str, print_: str
    ) -> Claimed | Answer | Refused | Unanswered:
        now = datetime.now(UTC)
        with self.store.transaction() as sql:
            sql.execute(
                "DELETE FROM careplan_idempotency WHERE claimed_at < %(expired)s",
                {"expired": _iso(now - self.ttl)},
            )
            inserted = sql.execute(
                """
                INSERT INTO careplan_idempotency
                    (actor_id, idempotency_key, fingerprint, claimed_at)
                VALUES (%(actor)s, %(key)s, %(print)s, %(now)s)
                ON CONFLICT (actor_id, idempotency_key) DO NOTHING
                RETURNING actor_id""",
                {"actor": actor_id, "key": key, "print": print_, "now": _iso(now)},
            ).fetchone()
            if inserted is not None:
                return Claimed()
            row = sql.execute(
                """
                SELECT fingerprint, status, content_type, body, claimed_at
                  FROM careplan_idempotency
                 WHERE actor_id = %(actor)s AND idempotency_key = %(key)s""",
                {"actor": actor_id, "key": key},
            ).fetchone()
            assert row is not None  # it conflicted, and nothing deletes a live key
            if row["fingerprint"] != print_:
                return Refused(
                    "idempotency.key_reused",
                    422,
                    "This Idempotency-Key was used for a different request; use a new key.",
                )
            if row["status"] is not None and row["status"] != RELEASED:
                return Answer(row["status"], row["content_type"], row["body"])
            young = now - datetime.fromisoformat(row["claimed_at"]) < ABANDONED_AFTER
            return Unanswered(row["claimed_at"], in_progress=young and row["status"] is None)

    def take_over(self, actor_id: str, key: str, claimed_at: str) -> bool:
        """Take an unanswered key for this request; False if another retry took it first."""
        with self.store.transaction() as sql:
            taken = sql.execute(
                """
                UPDATE careplan_idempotency SET claimed_at = %(now)s, status = NULL
                 WHERE actor_id = %(actor)s AND idempotency_key = %(key)s
                   AND (status IS NULL OR status = %(released)s) AND claimed_at = %(then)s
                RETURNING actor_id""",
                {
                    "actor": actor_id,
                    "key": key,
                    "then": claimed_at,
                    "released": RELEASED,
                    "now": _iso(datetime.now(UTC)),
                },
            ).fetchone()
        return taken is not None

    def remember(self, actor_id: str, key: str, answer: Answer) -> None:
        with self.store.transaction() as sql:
            sql.execute(
                """
                UPDATE careplan_idempotency
                   SET status = %(status)s, content_type = %(type)s, body = %(body)s
                 WHERE actor_id = %(actor)s AND idempotency_key = %(key)s""",
                {
                    "actor": actor_id,
                    "key": key,
                    "status": answer.status,
                    "type": answer.content_type,
                    "body": answer.body,
                },
            )

    def release(self, actor_id: str, key: str) -> None:
        """The request ended without an answer to keep (5xx): a retry may go on at once.
        The key stays bound to its request, so the retry first looks for the command's
        stored result (the outcome may have been unknown), never runs it blind."""
        with self.store.transaction() as sql:
            sql.execute(
                """
                UPDATE careplan_idempotency SET status = %(released)s
                 WHERE actor_id = %(actor)s AND idempotency_key = %(key)s
                   AND status IS NULL""",
                {"actor": actor_id, "key": key, "released": RELEASED},
            )


def _iso(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order on both stores."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
