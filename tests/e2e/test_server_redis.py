"""Two `nomaflow serve` processes sharing Redis: a run executing in one reaches a Socket.IO client
connected to the other, in order.

Redis comes from NOMAFLOW_TEST_REDIS_URL (default redis://127.0.0.1:6379/0). Unreachable: skipped on a
developer machine, failed under CI (CI=true).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.engine.server.conftest import INSTALL
from tests.engine.server.processes import Listener, Server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("NOMAFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=5) as client:
            client.ping()
    except redis.RedisError as exc:
        reason = f"Redis is not reachable at {url} (set NOMAFLOW_TEST_REDIS_URL): {exc}"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def pair(tmp_path: Path, redis_url: str) -> Iterator[tuple[Server, Server]]:
    app_toml = tmp_path / "app.toml"
    app_toml.write_text(
        f"""
[jobs]
timezone = "UTC"
scheduler_enabled = false
shutdown_grace_seconds = 2
plugins = "{INSTALL.parent / "plugins"}"

[server]
socketio_redis_url = "{redis_url}"
socketio_redis_channel = "nomaflow-test-{secrets.token_hex(6)}"

[auth]
secret = "${{env.NOMAFLOW_JWT_SECRET}}"
issuer = "nomaflow-tests"
audience = "nomaflow-tests-api"
""",
        encoding="utf-8",
    )
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first = Server(app_toml, database, wait=False)
    second = Server(app_toml, database, wait=False)
    try:
        first.ready()
        second.ready()
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_a_run_in_one_process_reaches_a_client_of_the_other(
    pair: tuple[Server, Server], tmp_path: Path
) -> None:
    runner, other = pair
    listener = Listener()
    await listener.client.connect(other.url, auth={"token": other.token("viewer")}, wait_timeout=10)
    try:
        assert (await listener.client.call("join", {"room": "jobs"}, timeout=10))["ok"]
        gate = tmp_path / "gate"
        async with httpx.AsyncClient(base_url=runner.url, headers=runner.auth("operator")) as http:
            instance = (await http.get("/health")).json()["instance"]
            run = (await http.post("/admin/jobs/gated/run", json={"params": {"gate": str(gate)}})).json()
        run_id = run["run_id"]

        await listener.wait_for("StepStarted", run_id=run_id)
        joined = await listener.client.call("join", {"room": f"run:{run_id}"}, timeout=10)
        assert joined["ok"], joined
        snapshot = await listener.wait_for("snapshot", room=f"run:{run_id}")
        assert snapshot["run"]["status"] == "running"  # read from the shared store: not run here
        gate.touch()
        finished = await listener.wait_for("RunFinished", run_id=run_id)
        assert finished["status"] == "succeeded"

        events = listener.of_run(run_id)
        assert [event["type"] for event in events if event["type"] != "LogLine"] == [
            "RunStarted",
            "StepStarted",
            "StepFinished",
            "StepStarted",
            "StepFinished",
            "RunFinished",
        ]
        assert any(event["type"] == "LogLine" and event["message"] == "gate passed" for event in events)
        seqs = [event["seq"] for event in events]
        assert seqs == sorted(seqs)
        async with httpx.AsyncClient(base_url=other.url, headers=other.auth("viewer")) as http:
            stored = (await http.get(f"/admin/runs/{run_id}")).json()
            assert stored["owner"] == instance != (await http.get("/health")).json()["instance"]
    finally:
        await listener.client.disconnect()
