"""`--output json` through a real server: every command's document (or stream) parses and has the REST
API's shape, validated by the API's own models, and the text views print retries with their delay,
levels and errors. One `nomaflow serve` for the module (~3 s) and six CLI processes (~1 s each)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter

from nomaflow.engine.server.api.schemas import JobOut, LogLineOut, LogsOut, RunDetail, RunPageOut, TriggerOut
from tests.engine.server.processes import INSTALL, Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(INSTALL, f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('out') / 'nomaflow.db'}")
    try:
        yield running
    finally:
        running.stop()


def _json(server: Server, *args: str, code: int = 0) -> Any:
    process = server.cli(*args, "-o", "json")
    output, _ = process.communicate(timeout=90)
    assert process.returncode == code, output
    return json.loads(output)


def test_every_json_output_has_the_rest_shape(server: Server) -> None:
    started = _json(server, "job", "run", "quick", "--param", "lines=2")
    TriggerOut.model_validate(started)
    finished = _json(server, "job", "run", "quick", "--param", "fail=true", "--wait", code=1)
    RunDetail.model_validate(finished)
    assert finished["status"] == "failed" and finished["steps"][0]["error"]

    TypeAdapter(list[JobOut]).validate_python(_json(server, "jobs", "list"))
    page = _json(server, "runs", "list")
    RunPageOut.model_validate(page)
    assert {run["id"] for run in page["runs"]} >= {started["run_id"], finished["id"]}
    RunDetail.model_validate(_json(server, "runs", "show", finished["id"]))
    logs = _json(server, "job", "logs", finished["id"])
    LogsOut.model_validate(logs)

    follow = server.cli("job", "logs", "--follow", finished["id"], "-o", "json")
    output, _ = follow.communicate(timeout=90)
    assert follow.returncode == 1, output  # the run's status: failed
    streamed = [json.loads(line) for line in output.splitlines()]
    for line in streamed:
        LogLineOut.model_validate(line)
    assert streamed == logs["lines"]


def test_following_an_unknown_run_in_json_is_bad_usage(server: Server) -> None:
    follow = server.cli("job", "logs", "--follow", "00000000-0000-0000-0000-000000000000", "-o", "json")
    output, _ = follow.communicate(timeout=90)
    assert follow.returncode == 2 and output.startswith("error: ") and "Traceback" not in output, output
