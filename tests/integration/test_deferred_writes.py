"""Deferred view writes (``Sql.defer``) on both stores: on PostgreSQL a run of one-row
inserts goes as multi-row inserts, and must leave exactly the rows one by one would."""

from __future__ import annotations

from services.bootstrap import Careplan


def stored(careplan: Careplan, table: str) -> dict[int, str]:
    with careplan.views.reading() as sql:
        rows = sql.execute(f"SELECT k, v FROM {table}").fetchall()
    return {int(row["k"]): str(row["v"]) for row in rows}


def test_a_run_of_inserts_keeps_the_first_of_two_rows_with_one_key(careplan: Careplan) -> None:
    """700 rows (three statements of at most 250 on PostgreSQL), 100 keys twice: the
    first row of each key stays, as ON CONFLICT DO NOTHING one by one leaves it."""
    careplan.views.create_tables(["CREATE TABLE deferred_first (k INTEGER PRIMARY KEY, v TEXT)"])
    with careplan.views.transaction() as sql:
        for n in range(700):
            sql.defer(
                "INSERT INTO deferred_first VALUES (%(k)s, %(v)s) ON CONFLICT (k) DO NOTHING",
                {"k": n % 600, "v": f"row {n}"},
            )
    assert stored(careplan, "deferred_first") == {n: f"row {n}" for n in range(600)}


def test_an_insert_that_updates_on_conflict_goes_row_by_row(careplan: Careplan) -> None:
    """DO UPDATE cannot touch one row twice in one statement: such a run goes one by
    one, and the last row of each key wins."""
    careplan.views.create_tables(["CREATE TABLE deferred_last (k INTEGER PRIMARY KEY, v TEXT)"])
    with careplan.views.transaction() as sql:
        for n in range(300):
            sql.defer(
                "INSERT INTO deferred_last VALUES (%(k)s, %(v)s) "
                "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                {"k": n % 200, "v": f"row {n}"},
            )
    expected = {n: f"row {n + 200}" if n < 100 else f"row {n}" for n in range(200)}
    assert stored(careplan, "deferred_last") == expected


def test_deferred_writes_roll_back_with_their_transaction(careplan: Careplan) -> None:
    careplan.views.create_tables(["CREATE TABLE deferred_undone (k INTEGER PRIMARY KEY, v TEXT)"])
    try:
        with careplan.views.transaction() as sql:
            for n in range(300):
                sql.defer("INSERT INTO deferred_undone VALUES (%(k)s, %(v)s)", {"k": n, "v": "x"})
            sql.flush()
            raise RuntimeError("the batch fails after its writes were sent")
    except RuntimeError:
        pass
    assert stored(careplan, "deferred_undone") == {}
