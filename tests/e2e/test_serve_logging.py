"""`nomaflow serve --log-format json` as a real process: every line of its log is one JSON object, and
a run's lines carry its run_id and job."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import read_until, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def database_kind() -> str:
    return "sqlite"  # the format is the same on every store: one server process is enough


async def test_serve_logs_json_lines_with_the_run_fields(
    e2e_env: dict[str, str], spawn: list[subprocess.Popen[str]]
) -> None:
    e2e_env["NOMAFLOW_LOG_FORMAT"] = "json"  # what --log-format json sets
    _, server = start_server(e2e_env, spawn)
    lines = [json.loads(line) for line in read_until(server, "run of every-second succeeded")]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    started = next(line for line in lines if line["message"].startswith("run of every-second started"))
    finished = lines[-1]
    assert (finished["logger"], finished["level"]) == ("nomaflow.engine", "INFO")
    assert finished["job"] == "every-second"
    assert finished["run_id"] in finished["message"] and "step" not in finished
    assert started["job"] == "every-second"
