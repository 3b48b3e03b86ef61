"""Two `nomaflow job run` processes on one database: one runs, the other is recorded as skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import NOMAFLOW, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


async def test_two_cli_processes_one_runs_one_is_skipped(
    e2e_env: dict[str, str], tmp_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    gate = tmp_path / "open"
    command = [NOMAFLOW, "job", "run", "gated", "--param", f"gate={gate}"]
    first = subprocess.Popen(
        command, env=e2e_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    spawn.append(first)
    read_until(first, "waiting for")  # the first run is admitted and inside its step

    second = subprocess.run(command, env=e2e_env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 3, second.stdout + second.stderr
    assert "skipped" in second.stdout and "already running" in second.stdout

    gate.touch()
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 0, output
    assert "run succeeded" in output

    listing = subprocess.run(
        [NOMAFLOW, "runs", "list", "--job", "gated"], env=e2e_env, capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    rows = [line for line in listing.stdout.splitlines() if " gated " in line]
    assert sorted(row.split()[2] for row in rows) == ["skipped", "succeeded"]
    assert all("cli:" in row for row in rows)


async def test_job_run_exit_codes_and_bad_input(e2e_env: dict[str, str]) -> None:
    unknown = subprocess.run(
        [NOMAFLOW, "job", "run", "gatd"], env=e2e_env, capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2
    assert "no job named 'gatd' (did you mean \"gated\"?)" in unknown.stderr
    bad_param = subprocess.run(
        [NOMAFLOW, "job", "run", "gated", "--param", "gaet=/x"],
        env=e2e_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_param.returncode == 2
    assert "job 'gated' has no param 'gaet'" in bad_param.stderr
    malformed = subprocess.run(
        [NOMAFLOW, "job", "run", "gated", "--param", "novalue"],
        env=e2e_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert malformed.returncode == 2 and "expected --param name=value" in malformed.stderr
    for output in (unknown, bad_param, malformed):
        assert "Traceback" not in output.stderr
