"""A real `nomaflow serve`: the authorization matrix, Socket.IO refusing bad tokens and delivering a
run's events in order, and the remote CLI following a run live. (Schemathesis: test_api_fuzz.py.)"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import socketio

from nomaflow.engine.client import NomaflowClient, NomaflowError
from tests.engine.server.conftest import SECRET
from tests.engine.server.processes import INSTALL, Listener, Output, Server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    running = Server(INSTALL, f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _forged(**changes: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "mallory",
        "role": "admin",
        "kind": "service",
        "iss": "nomaflow-tests",
        "aud": "nomaflow-tests-api",
        "iat": now,
        "exp": now + timedelta(hours=1),
        **changes,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _unsigned() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {"sub": "mallory", "role": "admin", "kind": "service", "iss": "nomaflow-tests"}
    claims |= {"aud": "nomaflow-tests-api", "iat": now, "exp": now + 3600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_authorization_matrix(server: Server, http: httpx.Client, tmp_path: Path) -> None:
    refused = {
        "no token": {},
        "expired": _bearer(
            _forged(iat=datetime.now(UTC) - timedelta(hours=2), exp=datetime.now(UTC) - timedelta(hours=1))
        ),
        "alg none": _bearer(_unsigned()),
        "wrong audience": _bearer(_forged(aud="another-api")),
        "wrong issuer": _bearer(_forged(iss="someone")),
        "other secret": _bearer(
            jwt.encode(jwt.decode(_forged(), options={"verify_signature": False}), "o" * 40)
        ),
    }
    for case, headers in refused.items():
        for method, path in [("GET", "/admin/jobs"), ("POST", "/admin/jobs/quick/run")]:
            response = http.request(method, path, headers=headers)
            assert response.status_code == 401, (case, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")

    viewer, operator, admin = server.auth("viewer"), server.auth("operator"), server.auth("admin")
    assert http.get("/admin/jobs", headers=viewer).status_code == 200
    assert http.post("/admin/jobs/quick/run", headers=viewer).status_code == 403
    run = http.post("/admin/jobs/quick/run", headers=operator)
    assert run.status_code == 202 and run.json()["status"] == "running"
    assert http.post("/admin/jobs/nightly/pause", headers=operator).status_code == 403
    paused = http.post("/admin/jobs/nightly/pause", headers=admin)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert http.post("/admin/jobs/nightly/resume", headers=admin).json()["paused"] is False
    assert http.get("/health").status_code == 200  # open, for load balancers


async def test_socketio_refuses_connections_without_a_good_token(server: Server) -> None:
    for auth in (
        None,
        {"token": ""},
        {"token": _forged(exp=datetime.now(UTC) - timedelta(minutes=5))},
        {"token": _unsigned()},
    ):
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, auth=auth, wait_timeout=10)
        await client.disconnect()
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, auth={"token": server.token("viewer")}, wait_timeout=10)
    assert client.connected
    await client.disconnect()


async def test_a_socketio_client_sees_a_runs_events_in_order(server: Server, tmp_path: Path) -> None:
    listener = Listener()
    await listener.client.connect(server.url, auth={"token": server.token("viewer")}, wait_timeout=10)
    try:
        assert await listener.client.call("join", {"room": "jobs"}, timeout=10) == {
            "ok": True,
            "room": "jobs",
        }
        await listener.wait_for("snapshot", room="jobs")
        async with httpx.AsyncClient(base_url=server.url, headers=server.auth("operator")) as http:
            gate = tmp_path / "gate"
            run = (await http.post("/admin/jobs/gated/run", json={"params": {"gate": str(gate)}})).json()
            run_id = run["run_id"]
            await listener.wait_for("StepStarted", run_id=run_id)
            joined = await listener.client.call("join", {"room": f"run:{run_id}"}, timeout=10)
            assert joined == {"ok": True, "room": f"run:{run_id}"}
            snapshot = await listener.wait_for("snapshot", room=f"run:{run_id}")
            assert snapshot["run"]["status"] == "running" and snapshot["steps"][0]["status"] == "running"
            gate.touch()
            finished = await listener.wait_for("RunFinished", run_id=run_id)
            assert finished["status"] == "succeeded"
            logs = (await http.get(f"/admin/runs/{run_id}/logs")).json()["lines"]

        events = listener.of_run(run_id)
        transitions = [event["type"] for event in events if event["type"] != "LogLine"]
        assert transitions == [
            "RunStarted",
            "StepStarted",
            "StepFinished",
            "StepStarted",
            "StepFinished",
            "RunFinished",
        ], transitions
        # The second step's log line comes between its start and its end.
        second = [event["type"] for event in events if event.get("step") == "after"]
        assert second == ["StepStarted", "LogLine", "StepFinished"], second
        seqs = [event["seq"] for event in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert [event["step"] for event in events if event["type"] == "StepFinished"] == ["wait", "after"]
        assert any(event["type"] == "LogLine" and event["message"] == "gate passed" for event in events)
        # Every event is a committed row of the run's log, with the same seq: REST can fill any gap.
        by_seq = {line["seq"]: line for line in logs}
        assert all(seq in by_seq for seq in seqs)
        assert all(event["seq"] > snapshot["last_seq"] for event in events if event["type"] == "LogLine")
    finally:
        await listener.client.disconnect()


def test_logs_follow_prints_lines_as_they_happen_and_exits_with_the_status(
    server: Server, http: httpx.Client, tmp_path: Path
) -> None:
    operator = server.auth("operator")
    gate, held_gate = tmp_path / "gate", tmp_path / "held"
    passing = http.post(
        "/admin/jobs/gated/run", json={"params": {"gate": str(gate)}}, headers=operator
    ).json()
    aborted = http.post(
        "/admin/jobs/held/run", json={"params": {"gate": str(held_gate)}}, headers=operator
    ).json()
    # Both followers start together: a CLI process takes seconds to start on a busy machine.
    follow = server.cli("job", "logs", "--follow", passing["run_id"], role="viewer")
    follow_aborted = server.cli("job", "logs", "--follow", aborted["run_id"], role="viewer")
    output, output_aborted = Output(follow), Output(follow_aborted)

    output.wait_for("waiting for")  # the history so far, then it keeps listening
    assert follow.poll() is None
    gate.touch()
    output.wait_for("gate passed")  # printed live, as the step logs it
    assert follow.wait(timeout=60) == 0
    text = output.join()
    assert "✔ after succeeded" in text and "run succeeded" in text

    output_aborted.wait_for("waiting for")
    abort = http.post(f"/admin/runs/{aborted['run_id']}/abort", headers=operator)
    assert abort.status_code == 202
    assert follow_aborted.wait(timeout=60) == 4, output_aborted.join()
    assert "run aborted" in output_aborted.join()


def test_remote_job_run_waits_and_exits_with_the_runs_status(server: Server, http: httpx.Client) -> None:
    failing = server.cli("job", "run", "quick", "--param", "fail=true", "--param", "lines=2", "--wait")
    mistyped = server.cli("job", "run", "quick", "--param", "lnes=2")
    output, _ = failing.communicate(timeout=90)
    assert failing.returncode == 1, output
    assert "(cli:carol)" in output and "[talk] line 1" in output and "✖ talk failed" in output
    assert "run failed" in output and "asked to fail" in output
    runs = http.get("/admin/runs", params={"triggered_by": "cli:carol"}, headers=server.auth("viewer")).json()
    assert [run["status"] for run in runs["runs"]] == ["failed"]

    output, _ = mistyped.communicate(timeout=90)
    assert mistyped.returncode == 2 and "did you mean" in output and "Traceback" not in output


def test_the_orchestrator_client_triggers_streams_and_waits(server: Server, tmp_path: Path) -> None:
    with NomaflowClient(server.url, server.token("operator", "airflow")) as nomaflow:
        run = nomaflow.trigger("quick", params={"lines": 3}, idempotency_key="dag-run-42")
        again = nomaflow.trigger("quick", params={"lines": 3}, idempotency_key="dag-run-42")
        assert again["run_id"] == run["run_id"] and again["replayed"] is True
        messages = [line["message"] for line in nomaflow.stream_logs(run["run_id"])]
        assert [message for message in messages if message.startswith("line")] == [
            "line 0",
            "line 1",
            "line 2",
        ]
        finished = nomaflow.wait(run["run_id"])
        assert finished["status"] == "succeeded" and finished["steps"][0]["output"] == {"lines": 3}
        with pytest.raises(NomaflowError) as refused:
            nomaflow.trigger("quick", params={"lines": "three"})
        assert refused.value.status_code == 422 and "params.lines" in str(refused.value)
