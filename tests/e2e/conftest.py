"""Real processes: `nomaflow` commands and servers started the way users start them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.postgres import DEFAULT_BIN, ThrowawayPostgres, throwaway_postgres

INSTALL = Path(__file__).parent / "install" / "app.toml"
NOMAFLOW = str(Path(sys.executable).parent / "nomaflow")


@pytest.fixture
def e2e_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["NOMAFLOW_DATABASE_URL"] = database_url
    env["NOMAFLOW_CONFIG"] = str(INSTALL)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_until(process: subprocess.Popen[str], needle: str, limit: int = 400) -> list[str]:
    """Read the process's output line by line until one contains `needle` (a blocking read, no sleep)."""
    assert process.stdout is not None
    seen: list[str] = []
    for _ in range(limit):
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never appeared; output was:\n" + "\n".join(seen))


def start_server(
    env: dict[str, str], spawn: list[subprocess.Popen[str]]
) -> tuple[int, subprocess.Popen[str]]:
    """`nomaflow serve` on a free port, returned once uvicorn listens."""
    port = free_port()
    server = subprocess.Popen(
        [NOMAFLOW, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    spawn.append(server)
    read_until(server, "Uvicorn running on")
    return port, server


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL of the test's own (tests/e2e/postgres.py), to stop and start at will. Without
    initdb the test is skipped, and under CI it fails."""
    bin_dir = Path(os.environ.get("NOMAFLOW_TEST_PG_BIN", DEFAULT_BIN))
    if not (bin_dir / "initdb").exists():
        reason = (
            f"no initdb in {bin_dir} (set NOMAFLOW_TEST_PG_BIN): cannot make a PostgreSQL of the test's own"
        )
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    with throwaway_postgres(bin_dir) as server:
        yield server
