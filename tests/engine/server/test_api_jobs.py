"""REST: the job listing; pause and resume (kept across restarts, seen by other processes, obeyed by cron);
login; health and metrics; the committed OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nomaflow.engine.clock import ManualClock
from nomaflow.engine.server.openapi import render
from tests.engine.server.conftest import Served, serve

pytestmark = pytest.mark.anyio
DOCS = Path(__file__).parents[3] / "docs"


async def test_jobs_list_schedule_next_fire_and_last_run(served: Served) -> None:
    run = await served.http.post("/admin/jobs/quick/run", headers=served.auth("operator"))
    await served.http.get(f"/admin/runs/{run.json()['run_id']}", params={"wait": 30}, headers=served.auth())
    listing = await served.http.get("/admin/jobs", headers=served.auth("viewer"))
    assert listing.status_code == 200
    jobs = {job["name"]: job for job in listing.json()}
    assert {"gated", "held", "nightly", "quick"} <= set(jobs)
    assert jobs["nightly"]["schedule"] == "0 2 * * *" and jobs["nightly"]["next_fire"] is not None
    assert jobs["gated"]["schedule"] is None and jobs["gated"]["next_fire"] is None
    assert jobs["quick"]["last_run"]["status"] == "succeeded"
    assert jobs["quick"]["params"] == {"fail": False, "lines": 1}
    assert [step["name"] for step in jobs["gated"]["steps"]] == ["wait", "after"]
    one = await served.http.get("/admin/jobs/quick", headers=served.auth("viewer"))
    assert one.json() == jobs["quick"]


async def test_pause_stops_cron_not_manual_runs_and_survives_a_restart(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    async with serve(database_url, clock=clock, scheduler=True) as served:
        assert "nightly" in served.engine.next_fires()
        operator = await served.http.post("/admin/jobs/nightly/pause", headers=served.auth("operator"))
        assert operator.status_code == 403

        paused = await served.http.post(
            "/admin/jobs/nightly/pause", json={"reason": "maintenance"}, headers=served.auth("admin", "ada")
        )
        assert paused.status_code == 200, paused.text
        job = paused.json()
        assert job["paused"] is True and job["next_fire"] is None
        assert job["state"]["changed_by"] == "api:ada" and job["state"]["reason"] == "maintenance"
        assert "nightly" not in served.engine.next_fires()  # the scheduler's own heap

        manual = await served.http.post("/admin/jobs/nightly/run", headers=served.auth("operator"))
        assert manual.status_code == 202 and manual.json()["status"] == "running"

    clock = ManualClock(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    async with serve(database_url, clock=clock, scheduler=True) as served:
        listing = await served.http.get("/admin/jobs/nightly", headers=served.auth("viewer"))
        assert listing.json()["paused"] is True and listing.json()["state"]["changed_by"] == "api:ada"
        assert "nightly" not in served.engine.next_fires()

        resumed = await served.http.post(
            "/admin/jobs/nightly/resume", headers=served.auth("admin", "alice", "user")
        )
        assert resumed.status_code == 200 and resumed.json()["paused"] is False
        assert resumed.json()["state"]["changed_by"] == "user:alice"
        assert served.engine.next_fires()["nightly"] == datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


async def test_a_pause_made_by_another_process_reaches_the_scheduler(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    async with (
        serve(database_url, clock=clock, scheduler=True) as scheduling,
        serve(database_url, scheduler=False) as api_only,
    ):
        response = await api_only.http.post("/admin/jobs/nightly/pause", headers=api_only.auth("admin"))
        assert response.status_code == 200
        assert "nightly" in scheduling.engine.next_fires()
        # What the scheduling process does every few seconds:
        assert await scheduling.engine.refresh_job_states() is True
        assert scheduling.engine.paused("nightly") and "nightly" not in scheduling.engine.next_fires()
        assert await scheduling.engine.refresh_job_states() is False


async def test_login_gives_a_user_token(served: Served) -> None:
    wrong = await served.http.post("/admin/login", json={"username": "olga", "password": "nope"})
    unknown = await served.http.post(
        "/admin/login", json={"username": "mallory", "password": "olga-password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]

    login = await served.http.post("/admin/login", json={"username": "olga", "password": "olga-password"})
    assert login.status_code == 200
    assert login.json()["role"] == "operator" and login.json()["subject"] == "olga"
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    run = await served.http.post("/admin/jobs/quick/run", headers=headers)
    assert run.status_code == 202 and run.json()["triggered_by"] == "user:olga"
    pause = await served.http.post("/admin/jobs/quick/pause", headers=headers)
    assert pause.status_code == 403


async def test_health_and_metrics(served: Served) -> None:
    health = await served.http.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["jobs"] == len(served.engine.jobs)
    run = await served.http.post(
        "/admin/jobs/quick/run", json={"params": {"lines": 3}}, headers=served.auth()
    )
    await served.http.get(f"/admin/runs/{run.json()['run_id']}", params={"wait": 30}, headers=served.auth())
    metrics = await served.http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'nomaflow_runs_total{job="quick",status="succeeded"} 1.0' in text
    assert 'nomaflow_step_duration_seconds_count{job="quick",status="succeeded",step="talk"} 1.0' in text
    assert 'nomaflow_runs_in_flight{job="gated"} 0.0' in text
    assert "nomaflow_scheduler_leader 0.0" in text


def test_the_committed_openapi_document_is_current() -> None:
    committed = (DOCS / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/openapi.json is stale: python -m nomaflow.engine.server.openapi docs/openapi.json"
    )
    paths = json.loads(committed)["paths"]
    assert "/admin/jobs/{name}/run" in paths and "/admin/runs/{run_id}/abort" in paths
