"""The test PostgreSQL: the one at CAREPLAN_TEST_DATABASE_URL, or a throwaway one.

Order of preference: a reachable server at the configured URL; otherwise a
server started from the local PostgreSQL binaries in a temporary directory;
otherwise a failure that says how to get one. Never a silent skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.support.ports import free_port

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOW_TO_GET_ONE = (
    "No PostgreSQL for the tests. Either start one and point CAREPLAN_TEST_DATABASE_URL at it "
    "(default postgresql://postgres@127.0.0.1:5432/test, a user allowed to CREATE DATABASE), "
    "or install the server binaries (Debian: apt-get install postgresql) so the tests can "
    "start a throwaway one."
)


def reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


@contextmanager
def throwaway_server() -> Iterator[str]:
    """initdb + pg_ctl into a temp dir; as root, run them as the 'postgres' user."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise RuntimeError(HOW_TO_GET_ONE)
    data = Path(tempfile.mkdtemp(prefix="careplan-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise RuntimeError(HOW_TO_GET_ONE + " (as root, 'runuser' is needed)")
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "-N")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    # -l sends the server's output to a file: an inherited pipe would keep run() waiting.
    log = str(data / "server.log")
    run(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", log, "-o", options, "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A URL of a server where the tests may create and drop their own databases."""
    url = os.environ.get("CAREPLAN_TEST_DATABASE_URL", DEFAULT_URL)
    if reachable(url):
        yield url
        return
    try:
        with throwaway_server() as throwaway:
            yield throwaway
    except (RuntimeError, subprocess.CalledProcessError) as error:
        detail = error.stderr.decode(errors="replace") if hasattr(error, "stderr") else ""
        raise RuntimeError(f"{HOW_TO_GET_ONE}\n{error}\n{detail}".strip()) from None


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database for one test (or run), dropped afterwards."""
    name = f"careplan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
