"""The reference consumer's state: current medications per plan, built from Kafka values.

It follows the same rules as ``projections/current_medications.py`` but reads
only the published JSON, so it shows a downstream team what the topic alone is
enough for. The highest version applied per plan is stored in the same SQLite
transaction as the rows: after a crash, the rows and the dedupe agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

IN_MEMORY = ":memory:"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS medications (
        prescription_id TEXT PRIMARY KEY,
        care_plan_id TEXT NOT NULL,
        drug TEXT NOT NULL,
        dose_amount TEXT NOT NULL,
        dose_unit TEXT NOT NULL,
        frequency TEXT NOT NULL,
        route TEXT NOT NULL,
        status TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS medications_by_plan ON medications (care_plan_id)",
    """CREATE TABLE IF NOT EXISTS applied_versions (
        care_plan_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    )""",
)

Message = Mapping[str, Any]


def _prescribed(db: sqlite3.Connection, message: Message) -> None:
    data = message["data"]
    db.execute(
        """INSERT INTO medications VALUES (?, ?, ?, ?, ?, ?, ?, 'active')
           ON CONFLICT (prescription_id) DO NOTHING""",
        (
            data["prescription_id"],
            message["care_plan_id"],
            data["drug"],
            data["dose"]["amount"],
            data["dose"]["unit"],
            data["frequency"],
            data["route"],
        ),
    )


def _dose_changed(db: sqlite3.Connection, message: Message) -> None:
    data = message["data"]
    db.execute(
        "UPDATE medications SET dose_amount = ?, dose_unit = ? WHERE prescription_id = ?",
        (data["dose"]["amount"], data["dose"]["unit"], data["prescription_id"]),
    )


def _discontinued(db: sqlite3.Connection, message: Message) -> None:
    db.execute(
        "UPDATE medications SET status = 'discontinued' WHERE prescription_id = ?",
        (message["data"]["prescription_id"],),
    )


def _marked_in_error(db: sqlite3.Connection, message: Message) -> None:
    """A prescription entered in error was never taken: it leaves the active list. A
    dose change or a stop in error is undone as the correction's ``restores`` says."""
    data = message["data"]
    restores = data.get("restores") or {}
    if data["entry_type"] == "MedicationPrescribed":
        db.execute(
            "UPDATE medications SET status = 'entered_in_error' WHERE prescription_id = ?",
            (data["subject_id"],),
        )
    elif "dose" in restores:
        db.execute(
            "UPDATE medications SET dose_amount = ?, dose_unit = ? WHERE prescription_id = ?",
            (restores["dose"]["amount"], restores["dose"]["unit"], data["subject_id"]),
        )
    elif data["entry_type"] == "MedicationDiscontinued" and "status" in restores:
        db.execute(  # tapering is still taking it: active, as in the projection
            "UPDATE medications SET status = 'active' WHERE prescription_id = ?",
            (data["subject_id"],),
        )


# Other event types do not change a medication (a taper is still taking the drug).
HANDLERS: dict[str, Callable[[sqlite3.Connection, Message], None]] = {
    "MedicationPrescribed": _prescribed,
    "DoseChanged": _dose_changed,
    "MedicationDiscontinued": _discontinued,
    "EntryMarkedInError": _marked_in_error,
}


class MedicationState:
    """Medications and applied versions in one SQLite database (a file, or memory)."""

    def __init__(self, path: str | Path = IN_MEMORY) -> None:
        self.path = str(path)
        # Autocommit mode: transactions are begun and ended explicitly below.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        for statement in SCHEMA:
            self._db.execute(statement)

    @property
    def in_memory(self) -> bool:
        return self.path == IN_MEMORY

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything applied inside commits together, or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def apply(self, message: Message) -> None:
        """Apply one Kafka value and record its version (inside ``transaction``)."""
        handler = HANDLERS.get(message["type"])
        if handler is not None:
            handler(self._db, message)
        self._db.execute(
            """INSERT INTO applied_versions VALUES (?, ?)
               ON CONFLICT (care_plan_id) DO UPDATE SET version = excluded.version""",
            (message["care_plan_id"], message["version"]),
        )

    def applied_versions(self) -> dict[str, int]:
        """The highest version applied per plan: what the dedupe starts from."""
        rows = self._db.execute("SELECT care_plan_id, version FROM applied_versions")
        return {row["care_plan_id"]: row["version"] for row in rows}

    def medications(self, care_plan_id: str | None = None) -> list[dict[str, Any]]:
        """Every prescription seen (any status), by plan then prescription id."""
        query = "SELECT * FROM medications"
        params: tuple[str, ...] = ()
        if care_plan_id is not None:
            query += " WHERE care_plan_id = ?"
            params = (care_plan_id,)
        rows = self._db.execute(query + " ORDER BY care_plan_id, prescription_id", params)
        return [dict(row) for row in rows]

    def close(self) -> None:
        self._db.close()
