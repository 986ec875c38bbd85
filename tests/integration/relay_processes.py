"""The pieces of the relay crash tests: ``careplan relay`` processes and a busy writer.

The relay runs as the real command, in its own process, so a SIGKILL is a real
crash (no ``finally``, no flush). The writer is the application in the test
process, playing treatment courses against the same PostgreSQL database while
the relay is killed and restarted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import uuid4

from services.bootstrap import Careplan
from services.demo import play_course
from services.publisher import RELAY_NAME

CAREPLAN_SCRIPT = Path(sys.executable).parent / "careplan"


def relay_env(database_url: str, servers: str, topic: str, data_dir: Path) -> dict[str, str]:
    """The environment of a relay process: small batches, quick polls, short send waits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPLAN_", "KAFKA_"))}
    env.update(
        CAREPLAN_DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=servers,
        CAREPLAN_KAFKA_TOPIC=topic,
        CAREPLAN_KAFKA_PARTITIONS="3",
        CAREPLAN_DATA_DIR=str(data_dir),
        CAREPLAN_RELAY_POLL_SECONDS="0.05",
        CAREPLAN_RELAY_BATCH_SIZE="10",  # many batches: many points to die between
        CAREPLAN_RELAY_SEND_TIMEOUT_SECONDS="2",
        CAREPLAN_LOG_FORMAT="json",
    )
    return env


class RelayProcess:
    """One ``careplan relay`` process, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("a") as log:
            self.process = subprocess.Popen(
                [str(CAREPLAN_SCRIPT), "relay"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._logged_before = log_path.stat().st_size

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_started(self, timeout: float = 30.0) -> None:
        """Until this process logged ``relay.started`` (connected, about to publish)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log_path.open(errors="replace") as log:
                log.seek(self._logged_before)
                if "relay.started" in log.read():
                    return
            if self.process.poll() is not None:
                msg = f"the relay exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                raise AssertionError(msg)
            time.sleep(0.02)
        msg = f"the relay did not start in {timeout}s:\n{self.log()[-3000:]}"
        raise AssertionError(msg)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, as an operator would; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def relay_position(careplan: Careplan) -> int:
    """The live relay's recorded position, as it stands in the database."""
    return careplan.views.tracking.max_tracking_id(RELAY_NAME) or 0


def newest(careplan: Careplan) -> int:
    return careplan.app.recorder.max_notification_id() or 0


class Writing:
    """Treatment courses played in a thread until the block ends: commands keep coming
    while the relay dies and comes back."""

    def __init__(self, careplan: Careplan) -> None:
        self.careplan = careplan
        self.stop = threading.Event()
        self.plans = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="writer", daemon=True)

    def _write(self) -> None:
        try:
            while not self.stop.is_set():
                play_course(self.careplan.app, f"crash-{uuid4().hex[:8]}")
                self.plans += 1
                self.stop.wait(0.1)  # a steady trickle, not a flood: the CPU is shared
        except BaseException as error:  # reported by __exit__
            self.error = error

    def __enter__(self) -> Writing:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        self.stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the writer did not stop"
        if self.error is not None and kind is None:
            raise AssertionError(f"the writer failed: {self.error!r}") from self.error
        return None
