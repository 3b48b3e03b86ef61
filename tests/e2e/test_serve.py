"""`nomaflow serve` as a real process: /health answers and a per-second cron fires and is recorded."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from tests.e2e.conftest import read_until, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


async def test_serve_answers_health_and_fires_cron(
    e2e_env: dict[str, str], spawn: list[subprocess.Popen[str]]
) -> None:
    port, server = start_server(e2e_env, spawn)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        health = json.load(response)
    # The install's two jobs and the built-in nomaflow-cleanup.
    assert health["status"] == "ok" and health["scheduler"] is True and health["jobs"] == 3

    finished = read_until(server, "run of every-second succeeded")
    assert any("(cron" in line for line in finished)

    server.terminate()
    output, _ = server.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status says why it stopped.
    assert server.returncode in (0, -15), output
    assert "engine stopped" in output and "Application shutdown complete" in output
