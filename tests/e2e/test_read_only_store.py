"""A job store that cannot be written (here a read-only SQLite file) stops `nomaflow serve` at start-up
with one clear line and exit code 1, and an in-process `nomaflow job run` with the database's reason;
no traceback either way. About 5 s."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from nomaflow.engine.store import upgrade
from tests.e2e.conftest import NOMAFLOW

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A migrated SQLite job store nobody may write: chmod for a user, `chattr +i` for root (whom
    file modes do not stop)."""
    database = tmp_path / "nomaflow.db"
    anyio.run(upgrade, f"sqlite+aiosqlite:///{database}")
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(database)], check=True)
    else:
        database.chmod(0o444)
        tmp_path.chmod(0o555)  # no journal file beside it either
    try:
        yield database
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(database)], check=True)
        else:
            tmp_path.chmod(0o755)


def _run(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NOMAFLOW_CONFIG": str(Path(__file__).parent / "install" / "app.toml"),
        "NOMAFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }
    return subprocess.run([NOMAFLOW, *args], env=env, capture_output=True, text=True, timeout=60)


def test_serve_refuses_to_start_on_a_store_it_cannot_write(read_only_store: Path) -> None:
    result = _run(read_only_store, "serve", "--port", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    # One paragraph naming the file, the database's reason and what to do (engine/store/opening.py).
    said = f"error: the job store {read_only_store.resolve()} cannot be written (SQLite: attempt to write"
    assert said in result.stderr and "NOMAFLOW_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_in_process_run_says_what_the_store_refused(read_only_store: Path) -> None:
    result = _run(read_only_store, "job", "run", "gated", "--param", "gate=/")
    assert result.returncode == 1, result.stdout + result.stderr
    said = f"error: the job store {read_only_store.resolve()} cannot be written (SQLite: attempt to write"
    assert said in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
