"""Nomaflow embedded in a host FastAPI service under /ops/jobs (tests/e2e/embedded_host.py), served by
uvicorn: the host's sign-in decides the role over REST and Socket.IO, the host's routes keep their own
limits, and Nomaflow's tokens still serve the CLI. One server for the module; about 6 s in all.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import socketio

from tests.e2e.conftest import NOMAFLOW
from tests.e2e.embedded_host import PREFIX, HostServer
from tests.engine.server.conftest import INSTALL
from tests.engine.server.processes import Listener

pytestmark = pytest.mark.e2e

TWO_MB = b"x" * (2 * 1024 * 1024)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostServer]:
    running = HostServer(tmp_path_factory.mktemp("embedded"), INSTALL)
    try:
        yield running
    finally:
        running.stop()


def test_host_routes_and_nomaflow_both_answer(host: HostServer) -> None:
    assert httpx.get(f"{host.root}/", timeout=10).json() == {"service": "billing"}
    assert httpx.get(f"{host.root}/me", headers=host.signed_in("vic"), timeout=10).json() == {"user": "vic"}
    assert httpx.get(f"{host.url}/health", timeout=10).json()["status"] == "ok"
    assert httpx.get(f"{host.url}/metrics", timeout=10).text.startswith("# HELP")
    assert httpx.get(f"{host.root}/health", timeout=10).status_code == 404  # nothing at the host's root


def test_the_host_sign_in_decides_the_role_over_rest(host: HostServer) -> None:
    run = f"{host.url}/admin/jobs/quick/run"
    assert httpx.get(f"{host.url}/admin/jobs", timeout=10).status_code == 401
    assert httpx.get(f"{host.url}/admin/jobs", headers=host.signed_in("vic"), timeout=10).status_code == 200
    refused = httpx.post(run, headers=host.signed_in("vic"), timeout=10)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this needs the operator role; 'vic' has the viewer role"
    started = httpx.post(run, headers=host.signed_in("olga"), timeout=10)
    assert started.status_code == 202 and started.json()["triggered_by"] == "user:olga"


def test_a_large_post_to_a_host_route_is_not_limited_by_nomaflow(host: HostServer) -> None:
    answer = httpx.post(f"{host.root}/administration/upload", content=TWO_MB, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"bytes": len(TWO_MB)}
    limited = httpx.post(f"{host.url}/admin/jobs/quick/run", content=TWO_MB, headers=host.signed_in("olga"))
    assert limited.status_code == 413


@pytest.mark.anyio
async def test_live_events_reach_a_socketio_client_the_host_signed_in(host: HostServer) -> None:
    listener = Listener()
    await listener.client.connect(
        host.root, headers=host.signed_in("vic"), socketio_path=f"{PREFIX}/socket.io", wait_timeout=15
    )
    try:
        assert (await listener.client.call("join", {"room": "jobs"}, timeout=15))["ok"] is True
        async with httpx.AsyncClient(timeout=10) as http:
            started = await http.post(f"{host.url}/admin/jobs/quick/run", headers=host.signed_in("olga"))
        run_id = started.json()["run_id"]
        finished = await listener.wait_for("RunFinished", run_id=run_id)
        assert finished["status"] == "succeeded"
        assert listener.of_run(run_id)[0]["type"] == "RunStarted"
    finally:
        await listener.client.disconnect()


@pytest.mark.anyio
async def test_a_socketio_client_nobody_signed_in_is_refused_in_a_sentence(host: HostServer) -> None:
    refusals: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)

    async def on_connect_error(data: Any = None) -> None:
        refusals.append(data)

    client.on("connect_error", on_connect_error)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(host.root, socketio_path=f"{PREFIX}/socket.io", wait_timeout=15)
    reason = "not signed in: the host application did not recognise this request"
    assert refusals == [
        {
            "message": f"Socket.IO connection not authorized: {reason}",
            "data": {"status": 401, "detail": reason},
        }
    ]


def test_the_cli_follows_a_run_with_a_nomaflow_token_beside_the_host_sign_in(host: HostServer) -> None:
    token = host.token("operator", "carol")
    command = [NOMAFLOW, "--server", host.url, "--token", token, "job", "run", "quick", "--wait"]
    done = subprocess.run(command, env=host.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
