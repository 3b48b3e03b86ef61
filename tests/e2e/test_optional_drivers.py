"""Real `nomaflow` processes without the optional drivers (asyncpg, asyncmy, ldap3, redis), simulated by
tests/e2e/missing.py: the example install checks and runs on SQLite, and an install that needs a missing
driver is refused by `check` and by `serve` with the same one-paragraph problem. About 5 s."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.resources.test_drivers import _sql_install

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MISSING = str(Path(__file__).parent / "missing.py")
DRIVERS = "asyncpg,asyncmy,ldap3,redis"


def _nomaflow(without: str, app_toml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOMAFLOW_")}
    env["NOMAFLOW_CONFIG"] = str(app_toml)
    return subprocess.run(
        [sys.executable, MISSING, without, "--", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_install_runs_without_any_optional_driver(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "example", ignore=shutil.ignore_patterns("nomaflow.db*"))
    app_toml = tmp_path / "example" / "app.toml"
    checked = _nomaflow(DRIVERS, app_toml, "check")
    assert checked.returncode == 0 and "OK:" in checked.stdout, checked.stderr
    ran = _nomaflow(DRIVERS, app_toml, "job", "run", "sales-report")
    assert ran.returncode == 0 and "run succeeded" in ran.stdout, ran.stdout + ran.stderr


def test_check_and_serve_name_the_extra_a_connector_needs(tmp_path: Path) -> None:
    app_toml = _sql_install(tmp_path)
    expected = (
        "jobs[0].steps[0].connector: step 'totals' of job 'nightly': connector 'warehouse' "
        "(postgresql+asyncpg) needs the asyncpg driver: pip install 'nomaflow[postgres]'"
    )
    for command in (["check"], ["serve", "--port", "9"]):
        done = _nomaflow("asyncpg", app_toml, *command)
        assert done.returncode == 2 and expected in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr and "asyncmy" not in done.stderr
    assert _nomaflow("", app_toml, "check").returncode == 0  # the drivers are here: nothing to say


def test_loading_nomaflow_imports_no_driver() -> None:
    # Drivers installed (the dev set-up has every extra): still none is imported until it is used.
    # python-socketio imports redis itself when it is installed, so only the other three are ours.
    code = (
        "import sys, nomaflow.engine.cli.app, nomaflow.engine.server.app, nomaflow.engine.steps;"
        "import nomaflow.engine.steps.sql.copy, nomaflow.engine.steps.ldap.sync;"
        "print(sorted(m for m in ('asyncpg', 'asyncmy', 'ldap3') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
