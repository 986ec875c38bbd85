"""The crash run: load from several clients with every answer journalled, while the
server is SIGKILLed and its database connections terminated; then the promises are
checked against what is stored.

Each client owns a care plan and sends, in a loop, one adherence note per logical
command (the note names its Idempotency-Key, so the stored events say which
commands they came from) and one read of the plan's medications (with an
``X-Request-ID`` of its own). A command that gets no answer, a 5xx or a 409
``idempotency.in_progress`` is retried with the same key until it is answered,
as a careful client would; the journal keeps each command's final answer.

Meanwhile: ``--kills`` SIGKILLs of the server (restarted at once) and
``--terminations`` rounds of ``pg_terminate_backend`` of all its connections,
spread over the run. Then, from the store itself:

- acknowledged commands lost (a 2xx whose note is not stored): must be 0;
- commands stored twice (a note stored more than once): must be 0;
- commands answered as failed but stored: must be 0;
- the views equal to a rebuild from the events; the hash chains intact;
- reads answered 200 missing from the read-access log: must be 0.

    python -m bench.crash_run [--seconds 45] [--clients 4] [--kills 2] [--terminations 6]

Exits 1 if any promise failed.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import psycopg
import typer
from rich.console import Console
from rich.table import Table

from bench.scratch_database import scratch_database
from bench.tansu import free_port
from services.bootstrap import bootstrap
from services.chain.verify import verify
from services.settings import Settings
from services.tokens import issue_token
from services.views_check import differing_views

console = Console(width=120)
SECRET = "crash-run-secret-" + "x" * 32
CHAIN_KEY = "crash-run-chain-key-" + "y" * 32
CAREPLAN = Path(sys.executable).parent / "careplan"
#: How long a client keeps retrying one command after the run's end, at most: a key
#: claimed by a killed process is in progress for 60 s unless its result was stored.
RETRY_FOR = 90.0
NOTE = "crash-run "


@dataclass
class Journal:
    """Every client's final answers: by Idempotency-Key, and the reads answered 200."""

    answers: dict[str, tuple[str, int]] = field(default_factory=dict)
    reads_ok: list[str] = field(default_factory=list)
    attempts: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, key: str, outcome: str, status: int) -> None:
        with self.lock:
            self.answers[key] = (outcome, status)

    def tried(self, what: str) -> None:
        with self.lock:
            self.attempts[what] += 1


class Server:
    """``careplan serve`` on PostgreSQL, killed and started again on the same port."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(env["CAREPLAN_DATA_DIR"]) / "server.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(CAREPLAN), "serve"], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        msg = f"careplan serve did not come up; see {self.log}"
        raise RuntimeError(msg)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def terminate_connections(database_url: str) -> int:
    """pg_terminate_backend of every connection to the run's database but this one."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, autocommit=True) as sql:
        rows = sql.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def client_loop(
    base_url: str, token: str, plan: str, client: int, stop: threading.Event, journal: Journal
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=15) as http:
        n = 0
        while not stop.is_set():
            n += 1
            key = f"c{client}-{n}"
            send_until_answered(http, plan, key, stop, journal)
            request_id = f"read-c{client}-{n}"
            try:
                read = http.get(
                    f"/v1/care-plans/{plan}/medications", headers={"X-Request-ID": request_id}
                )
            except httpx.TransportError:
                journal.tried("read lost")
                continue
            journal.tried(f"read {read.status_code}")
            if read.status_code == 200:
                with journal.lock:
                    journal.reads_ok.append(request_id)


def send_until_answered(
    http: httpx.Client, plan: str, key: str, stop: threading.Event, journal: Journal
) -> None:
    body = {"adherence": "taking_as_prescribed", "note": NOTE + key}
    give_up: float | None = None
    while True:
        if stop.is_set() and give_up is None:
            give_up = time.monotonic() + RETRY_FOR
        try:
            answer = http.post(
                f"/v1/care-plans/{plan}/adherence", json=body, headers={"Idempotency-Key": key}
            )
        except httpx.TransportError:
            journal.tried("command: no answer")
        else:
            retry = answer.status_code >= 500 or (
                answer.status_code == 409 and answer.json().get("code") == "idempotency.in_progress"
            )
            journal.tried(f"command {answer.status_code}")
            if not retry:
                outcome = "acknowledged" if answer.is_success else "failed"
                journal.answered(key, outcome, answer.status_code)
                return
            journal.answered(key, "unanswered", answer.status_code)
        if give_up is not None and time.monotonic() > give_up:
            return
        time.sleep(0.2)


def faults(
    server: Server, database_url: str, seconds: float, kills: int, terminations: int
) -> list[str]:
    """The faults, spread evenly over the run (kills among the terminations)."""
    plan = ["kill" if i % 4 == 1 and i // 4 < kills else "terminate" for i in range(kills * 4)]
    plan = plan[: kills + terminations]
    while plan.count("kill") < kills:
        plan.append("kill")
    while plan.count("terminate") < terminations:
        plan.append("terminate")
    done: list[str] = []
    step = seconds / (len(plan) + 1)
    for fault in plan:
        time.sleep(step)
        if fault == "kill":
            server.kill()
            server.start()
            done.append("SIGKILL, restarted")
        else:
            done.append(f"terminated {terminate_connections(database_url)} connection(s)")
    return done


def check(database_url: str, data_dir: str, plans: list[str], journal: Journal) -> dict[str, Any]:
    """The promises, from the store itself (a process of its own, after the server stopped)."""
    careplan = bootstrap(
        Settings(
            data_dir=Path(data_dir) / "checker",
            database_url=database_url,
            jwt_secret=SECRET,
            chain_key=CHAIN_KEY,
        )
    )
    try:
        stored: collections.Counter[str] = collections.Counter()
        for plan in plans:
            for event in careplan.app.history(plan):
                note = getattr(event, "note", None) or ""
                if note.startswith(NOTE):
                    stored[note.removeprefix(NOTE)] += 1
        answers = journal.answers
        acknowledged = {k for k, (outcome, _) in answers.items() if outcome == "acknowledged"}
        not_acknowledged = set(answers) - acknowledged
        with careplan.views.reading() as sql:
            logged = {
                row["request_id"]
                for row in sql.execute(
                    "SELECT request_id FROM careplan_access_log WHERE request_id LIKE 'read-%'"
                ).fetchall()
            }
        chain = verify(careplan.app)
        differing = differing_views(careplan)
        return {
            "commands sent": len(answers),
            "acknowledged": len(acknowledged),
            "acknowledged but lost": len([k for k in acknowledged if stored[k] == 0]),
            "stored twice": len([k for k, count in stored.items() if count > 1]),
            "answered as failed but stored": len(
                [k for k in not_acknowledged if stored[k] > 0 and answers[k][0] == "failed"]
            ),
            "never answered (retries exhausted)": len(
                [k for k in not_acknowledged if answers[k][0] == "unanswered"]
            ),
            "views differing from the events": len(differing),
            "chain intact": chain.intact,
            "reads answered 200": len(journal.reads_ok),
            "reads answered 200 not in the access log": len(
                [r for r in journal.reads_ok if r not in logged]
            ),
        }
    finally:
        careplan.close()


MUST_BE_ZERO = (
    "acknowledged but lost",
    "stored twice",
    "answered as failed but stored",
    "never answered (retries exhausted)",
    "views differing from the events",
    "reads answered 200 not in the access log",
)


def main(
    seconds: Annotated[float, typer.Option(help="Seconds of load (faults spread over it).")] = 45,
    clients: Annotated[int, typer.Option(min=1, max=32)] = 4,
    kills: Annotated[int, typer.Option(min=0, max=10)] = 2,
    terminations: Annotated[int, typer.Option(min=0, max=20)] = 6,
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
) -> None:
    journal = Journal()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(database_url) as db:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREPLAN_")}
        env |= {
            "CAREPLAN_DATABASE_URL": db,
            "CAREPLAN_JWT_SECRET": SECRET,
            "CAREPLAN_CHAIN_KEY": CHAIN_KEY,
            "CAREPLAN_PORT": str(port),
            "CAREPLAN_DATA_DIR": tmp,
            "CAREPLAN_LOG_LEVEL": "WARNING",
        }
        server = Server(env, port)
        server.start()
        base_url = f"http://127.0.0.1:{port}"
        token = issue_token(SECRET, sub="dr-crash", role="prescriber")
        plans = [open_plan(base_url, token, f"pt-crash-{n}") for n in range(clients)]
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=client_loop, args=(base_url, token, plan, n, stop, journal), daemon=True
            )
            for n, plan in enumerate(plans)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            done = faults(server, db, seconds, kills, terminations)
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=RETRY_FOR + 30)
            server.stop()
        figures = check(db, tmp, plans, journal)
    report(figures, done, journal, seconds, clients)
    failed = [name for name in MUST_BE_ZERO if figures[name]] + (
        [] if figures["chain intact"] else ["chain intact"]
    )
    if failed:
        console.print(f"[red]FAILED: {', '.join(failed)}[/red]")
        raise typer.Exit(1)
    console.print("[green]every promise held[/green]")


def open_plan(base_url: str, token: str, patient: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=15) as http:
        opened = http.post(
            "/v1/care-plans", json={"patient_id": patient, "birth_date": "1986-04-02"}
        )
        opened.raise_for_status()
        plan: str = opened.json()["care_plan_id"]
        return plan


def report(
    figures: dict[str, Any], done: list[str], journal: Journal, seconds: float, clients: int
) -> None:
    console.print(f"crash run: {clients} client(s), {seconds:.0f} s; faults: " + "; ".join(done))
    table = Table(title="promises, checked against the store")
    table.add_column("")
    table.add_column("count", justify="right")
    for name, value in figures.items():
        table.add_row(name, str(value))
    console.print(table)
    tries = ", ".join(f"{what}: {count}" for what, count in sorted(journal.attempts.items()))
    console.print(f"answers seen (every try): {tries}")


if __name__ == "__main__":
    typer.run(main)
