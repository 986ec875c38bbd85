"""Idempotency keys: a retried command gets the first answer and stores nothing new.

A client that lost the answer to a command (timeout, dropped connection) sends it
again with the same ``Idempotency-Key``. The first request claims the key with
a fingerprint of what it asked (method, path, body); the answer is kept with it.
The same key and the same request get that answer again; the same key with
another request is a client bug (422); a key whose first request is still
running is 409. Keys belong to the actor who used them and are kept at least
``ttl`` (24 hours by default) in the views' database, so they survive restarts.

What this cannot promise: the answer is kept in a second transaction after the
events are stored. If the server dies between the two, the claim is left without
an answer; after ``ABANDONED_AFTER`` a retry runs the command again, and the
domain's own rules (one active prescription per drug, follow-up not pending…)
refuse most repeats.
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

    def claim(self, actor_id: str, key: str, print_: str) -> Claimed | Answer | Refused:
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
            if row["status"] is not None:
                return Answer(row["status"], row["content_type"], row["body"])
            if now - datetime.fromisoformat(row["claimed_at"]) < ABANDONED_AFTER:
                return Refused(
                    "idempotency.in_progress",
                    409,
                    "A request with this Idempotency-Key is still running; retry shortly.",
                )
            sql.execute(  # its process died: this request takes the key over
                """
                UPDATE careplan_idempotency SET claimed_at = %(now)s
                 WHERE actor_id = %(actor)s AND idempotency_key = %(key)s""",
                {"actor": actor_id, "key": key, "now": _iso(now)},
            )
            return Claimed()

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
        """The command failed on our side (5xx): the client may retry with the key."""
        with self.store.transaction() as sql:
            sql.execute(
                """
                DELETE FROM careplan_idempotency
                 WHERE actor_id = %(actor)s AND idempotency_key = %(key)s
                   AND status IS NULL""",
                {"actor": actor_id, "key": key},
            )


def _iso(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order on both stores."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
