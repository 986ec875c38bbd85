"""``careplan project`` killed with SIGKILL at random moments, while commands keep
being stored, then restarted: once caught up, every view equals a fresh rebuild of
it, row for row. Rows and position commit together, so a kill loses nothing and
repeats nothing. The seed is printed (shown with a failure); set
CAREPLAN_CRASH_SEED to replay one run.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from services.bootstrap import PROJECTIONS, Careplan
from tests.e2e.conftest import CAREPLAN, server_env
from tests.integration.course import play
from tests.integration.medication_histories import one_plan, write_varied_plans
from tests.integration.rebuilt import rebuild_all, view_rows
from tests.support.ports import free_port

KILLS = 5
# Small batches: many commits per run, so a kill lands inside one as often as between.
WORKER = {
    "CAREPLAN_PROJECTIONS": "external",
    "CAREPLAN_PROJECTION_BATCH_SIZE": "7",
    "CAREPLAN_PROJECTION_POLL_SECONDS": "0.05",
}


def positions(careplan: Careplan) -> dict[str, int]:
    return careplan.views.positions([projection.name for projection in PROJECTIONS])


def keep_writing(careplan: Careplan, rng: random.Random, stop: threading.Event) -> None:
    """Commands through the application while the worker lives and dies."""
    n = 0
    while not stop.is_set():
        if n % 4 == 3:
            play(careplan.app, f"pt-crash-course-{n}")
        else:
            one_plan(careplan.app, rng, f"pt-crash-{n}")
        n += 1


def wait_for_progress(careplan: Careplan, since: dict[str, int], process: Any) -> None:
    """Until this worker has committed something (it is then mid-work, not importing)."""
    deadline = time.monotonic() + 30
    while positions(careplan) == since:
        assert process.poll() is None, "the worker exited on its own"
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.02)


def test_a_worker_killed_at_random_catches_up_to_what_a_rebuild_gives(
    careplan: Careplan, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CAREPLAN_CRASH_SEED") or random.randrange(2**32))
    print(f"crash test seed: CAREPLAN_CRASH_SEED={seed}")
    rng = random.Random(seed)
    careplan.app.after_commit = None  # the views are the worker's alone
    settings = careplan.settings
    play(careplan.app, "pt-crash-course")
    write_varied_plans(careplan.app, 6, seed=seed)
    env = server_env(settings.data_dir, free_port(), settings.database_url, WORKER)

    stop = threading.Event()
    writer = threading.Thread(target=keep_writing, args=(careplan, random.Random(seed), stop))
    writer.start()
    kills: list[tuple[float, dict[str, int]]] = []
    try:
        for _ in range(KILLS):
            before = positions(careplan)
            with (tmp_path / "worker.log").open("ab") as output:
                worker = subprocess.Popen(
                    [str(CAREPLAN), "project"], env=env, stdout=output, stderr=output
                )
            try:
                wait_for_progress(careplan, before, worker)
                delay = rng.uniform(0.0, 0.4)
                time.sleep(delay)
            finally:
                worker.kill()
                worker.wait(timeout=10)
            kills.append((round(delay, 3), positions(careplan)))
    finally:
        stop.set()
        writer.join(timeout=60)

    caught_up = subprocess.run(  # noqa: PLW1510 (checked below)
        [str(CAREPLAN), "project", "--until-idle"], env=env, capture_output=True, timeout=60
    )
    assert caught_up.returncode == 0, caught_up.stderr.decode(errors="replace")
    head = careplan.app.recorder.max_notification_id()
    context = f"seed {seed}, kills (delay, positions after): {kills}"
    assert set(positions(careplan).values()) == {head}, context
    assert len({tuple(p.values()) for _, p in kills}) == KILLS, f"a run did nothing: {context}"

    served = view_rows(careplan)
    rebuild_all(careplan)
    rebuilt = view_rows(careplan)
    for table, rows in rebuilt.items():
        assert rows, f"{table} is empty: the test would prove nothing"
        assert served[table] == rows, f"{table} differs from its rebuild; {context}"
