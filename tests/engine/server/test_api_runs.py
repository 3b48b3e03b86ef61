"""REST: triggering (202, skipped, idempotency), reading runs and logs, abort, retry, and the audit trail."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from nomaflow.engine import ManualClock
from tests.engine.conftest import until
from tests.engine.server.conftest import Served, serve

pytestmark = pytest.mark.anyio


async def _run(
    served: Served, job: str, body: dict[str, object] | None = None, **headers: str
) -> dict[str, Any]:
    response = await served.http.post(
        f"/admin/jobs/{job}/run", json=body or {}, headers={**served.auth("operator"), **headers}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def _finished(served: Served, run_id: object) -> dict[str, Any]:
    response = await served.http.get(
        f"/admin/runs/{run_id}", params={"wait": 30}, headers=served.auth("viewer")
    )
    assert response.status_code == 200, response.text
    run = dict(response.json())
    assert run["status"] != "running"
    return run


async def test_run_answers_202_then_skipped_while_running(served: Served, gate: Path) -> None:
    first = await _run(served, "gated", {"params": {"gate": str(gate)}})
    assert first["status"] == "running" and first["triggered_by"] == "api" and first["replayed"] is False

    second = await _run(served, "gated", {"params": {"gate": str(gate)}})
    assert second["status"] == "skipped" and second["run_id"] != first["run_id"]

    await anyio.Path(gate).touch()
    run = await _finished(served, first["run_id"])
    assert run["status"] == "succeeded"
    assert [step["name"] for step in run["steps"]] == ["wait", "after"]
    assert run["steps"][1]["output"] == {"ok": True}


async def test_triggered_by_follows_the_token_and_the_cli_header(served: Served) -> None:
    user = served.auth("operator", "olga", "user")
    from_ui = await served.http.post("/admin/jobs/quick/run", json={}, headers=user)
    from_cli = await served.http.post(
        "/admin/jobs/quick/run",
        json={},
        headers={**served.auth("operator", "bob"), "X-Nomaflow-Client": "cli"},
    )
    from_api = await served.http.post("/admin/jobs/quick/run", headers=served.auth("operator", "ci-bot"))
    assert [r.status_code for r in (from_ui, from_cli, from_api)] == [202, 202, 202]
    assert from_ui.json()["triggered_by"] == "user:olga"
    assert from_cli.json()["triggered_by"] == "cli:bob"
    assert from_api.json()["triggered_by"] == "api"
    # An unknown client name is refused, not silently taken as something else.
    odd = await served.http.post(
        "/admin/jobs/quick/run", json={}, headers={**served.auth("operator"), "X-Nomaflow-Client": "root"}
    )
    assert odd.status_code == 422 and "X-Nomaflow-Client" in odd.text


async def test_every_run_action_is_audited_in_the_log_and_the_runs_own_log(
    served: Served, gate: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nomaflow.audit")
    run = await _run(served, "gated", {"params": {"gate": str(gate)}})
    abort = await served.http.post(
        f"/admin/runs/{run['run_id']}/abort",
        json={"reason": "wrong params"},
        headers=served.auth("operator", "sam"),
    )
    assert abort.status_code == 202 and abort.json()["abort_requested"] is True
    aborted = await _finished(served, run["run_id"])
    assert aborted["status"] == "aborted" and aborted["error"] == "aborted: wrong params (by api:sam)"
    retried = await served.http.post(
        f"/admin/runs/{run['run_id']}/retry", headers=served.auth("operator", "sam")
    )
    assert retried.status_code == 202, retried.text
    await anyio.Path(gate).touch()
    again = await _finished(served, retried.json()["run_id"])
    assert again["status"] == "succeeded" and again["resumed_from"] == run["run_id"]

    audit = [record.getMessage() for record in caplog.records if record.name == "nomaflow.audit"]
    assert any("tester (operator, service token, via api): run job=gated" in line for line in audit)
    assert any("sam (operator, service token, via api): abort job=gated" in line for line in audit)
    assert any("sam (operator, service token, via api): retry job=gated" in line for line in audit)

    logs = await served.http.get(f"/admin/runs/{run['run_id']}/logs", headers=served.auth("viewer"))
    notes = [line for line in logs.json()["lines"] if (line["fields"] or {}).get("event") == "audit"]
    assert [(note["fields"]["action"], note["fields"]["subject"]) for note in notes] == [
        ("run", "tester"),
        ("abort", "sam"),
    ]
    retry_logs = await served.http.get(f"/admin/runs/{again['id']}/logs", headers=served.auth("viewer"))
    retry_note = next(
        line for line in retry_logs.json()["lines"] if (line["fields"] or {}).get("event") == "audit"
    )
    assert retry_note["fields"]["retry_of"] == run["run_id"]


async def test_idempotency_key_returns_the_same_run(served_on: Served) -> None:
    served = served_on
    body = {"params": {"lines": 2}}
    first = await served.http.post(
        "/admin/jobs/quick/run",
        json=body,
        headers={**served.auth("operator"), "Idempotency-Key": "nightly-1"},
    )
    again = await served.http.post(
        "/admin/jobs/quick/run",
        json=body,
        headers={**served.auth("operator"), "Idempotency-Key": "nightly-1"},
    )
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"] and again.json()["replayed"] is True

    changed = await served.http.post(
        "/admin/jobs/quick/run",
        json={"params": {"lines": 3}},
        headers={**served.auth("operator"), "Idempotency-Key": "nightly-1"},
    )
    assert changed.status_code == 422 and "Idempotency-Key" in changed.text

    # Keys belong to a token subject: another caller's same key is another run.
    other = await served.http.post(
        "/admin/jobs/quick/run",
        json=body,
        headers={**served.auth("operator", "someone-else"), "Idempotency-Key": "nightly-1"},
    )
    assert other.status_code == 202 and other.json()["run_id"] != first.json()["run_id"]


async def test_concurrent_requests_with_one_key_make_one_run(served_on: Served, gate: Path) -> None:
    served = served_on
    answers: list[dict[str, object]] = []

    async def post() -> None:
        response = await served.http.post(
            "/admin/jobs/gated/run",
            json={"params": {"gate": str(gate)}},
            headers={**served.auth("operator"), "Idempotency-Key": "once"},
        )
        assert response.status_code in (200, 202), response.text
        answers.append(response.json())

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(post)
    assert len({answer["run_id"] for answer in answers}) == 1
    assert sorted(bool(answer["replayed"]) for answer in answers) == [False, True, True, True, True]
    await anyio.Path(gate).touch()
    await _finished(served, answers[0]["run_id"])
    runs = await served.http.get("/admin/runs", params={"job": "gated"}, headers=served.auth("viewer"))
    assert len(runs.json()["runs"]) == 1


async def test_abort_is_idempotent_then_409_once_finished_otherwise(served: Served, gate: Path) -> None:
    run = await _run(served, "gated", {"params": {"gate": str(gate)}})
    path = f"/admin/runs/{run['run_id']}/abort"
    assert (await served.http.post(path, headers=served.auth("operator"))).status_code == 202
    await _finished(served, run["run_id"])
    after = await served.http.post(path, headers=served.auth("operator"))
    assert after.status_code == 200 and after.json() == {
        "run_id": run["run_id"],
        "status": "aborted",
        "abort_requested": False,
    }

    done = await _run(served, "quick")
    await _finished(served, done["run_id"])
    late = await served.http.post(f"/admin/runs/{done['run_id']}/abort", headers=served.auth("operator"))
    assert late.status_code == 409 and "succeeded" in late.json()["detail"]


async def test_retry_refuses_what_cannot_be_retried(served: Served) -> None:
    ok = await _run(served, "quick")
    await _finished(served, ok["run_id"])
    refused = await served.http.post(f"/admin/runs/{ok['run_id']}/retry", headers=served.auth("operator"))
    assert refused.status_code == 409 and "only failed or aborted runs" in refused.json()["detail"]

    failed = await _run(served, "quick", {"params": {"fail": True}})
    assert (await _finished(served, failed["run_id"]))["status"] == "failed"
    retried = await served.http.post(f"/admin/runs/{failed['run_id']}/retry", headers=served.auth("operator"))
    assert retried.status_code == 202 and retried.json()["job"] == "quick"


async def test_run_history_filters_and_pages(served_on: Served) -> None:
    served = served_on
    ids = []
    for lines in range(5):
        run = await _run(served, "quick", {"params": {"lines": lines}})
        await _finished(served, run["run_id"])
        ids.append(run["run_id"])
    failing = await _run(served, "quick", {"params": {"fail": True}})
    await _finished(served, failing["run_id"])

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"job": "quick", "status": "succeeded", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await served.http.get("/admin/runs", params=params, headers=served.auth("viewer"))).json()
        seen.extend(run["id"] for run in page["runs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))

    failed = await served.http.get("/admin/runs", params={"status": "failed"}, headers=served.auth("viewer"))
    assert [run["id"] for run in failed.json()["runs"]] == [failing["run_id"]]
    by_api = await served.http.get(
        "/admin/runs",
        params={"triggered_by": "api", "since": "2000-01-01T00:00:00Z"},
        headers=served.auth("viewer"),
    )
    assert len(by_api.json()["runs"]) == 6


async def test_logs_page_by_seq_and_long_poll(served: Served, gate: Path) -> None:
    run = await _run(served, "gated", {"params": {"gate": str(gate)}})
    path = f"/admin/runs/{run['run_id']}/logs"
    lines: list[dict[str, Any]] = []

    async def read_until(text: str) -> None:
        # Each request is a long-poll: it answers as soon as there is a line after `after_seq`.
        while not any(str(line["message"]).startswith(text) for line in lines):
            after = lines[-1]["seq"] if lines else 0
            response = await served.http.get(
                path, params={"after_seq": after, "wait": 10}, headers=served.auth("viewer")
            )
            assert response.status_code == 200
            assert response.json()["lines"], "a long-poll answered with nothing before its deadline"
            lines.extend(response.json()["lines"])

    await read_until("waiting for")
    await anyio.Path(gate).touch()
    await read_until("gate passed")
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))  # each seq once, in order
    await _finished(served, run["run_id"])


async def test_diagram_highlights_the_path(served: Served) -> None:
    run = await _run(served, "quick", {"params": {"fail": True}})
    await _finished(served, run["run_id"])
    diagram = await served.http.get(f"/admin/runs/{run['run_id']}/diagram", headers=served.auth("viewer"))
    assert diagram.status_code == 200
    body = diagram.json()
    assert body["run"].startswith("stateDiagram-v2") and "fail" in body["run"]
    assert [step["step"] for step in body["steps"]] == ["talk"] and body["steps"][0]["status"] == "failed"


async def test_a_step_that_succeeded_after_a_retry_shows_no_error_and_its_retry_row_says_when(
    tmp_path: Path,
) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    async with serve(f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}", clock=clock) as served:
        served.engine.define_job(
            name="flaky",
            retry={"max_attempts": 2, "initial_delay_seconds": 45},
            steps=[{"name": "call", "type": "python", "callable": "serverjobs.steps:fails_first"}],
        )
        waiting = clock.sleepers  # the engine's own waits (heartbeats)
        handle = await served.engine.trigger("flaky")

        def retrying() -> bool:
            view = served.engine.tracker.runs.get(handle.run_id)
            return view is not None and view.steps[0].status == "retrying"

        await until(retrying)
        await clock.wait_for_sleepers(waiting + 1)  # the step's wait for its next attempt
        began = clock.now()
        clock.advance(45)
        outcome = await handle.wait()
        assert (outcome.status, outcome.step("call").attempts, outcome.step("call").error) == (
            "succeeded",
            2,
            None,
        )

        run = await served.http.get(f"/admin/runs/{handle.run_id}", headers=served.auth("viewer"))
        assert run.json()["steps"][0]["error"] is None
        logs = await served.http.get(f"/admin/runs/{handle.run_id}/logs", headers=served.auth("viewer"))
        [retry] = [line for line in logs.json()["lines"] if (line["fields"] or {}).get("trigger") == "retry"]
        assert retry["fields"]["error"] == "ConnectionError: the service was restarting"
        assert retry["fields"]["delay_seconds"] == 45
        assert datetime.fromisoformat(retry["fields"]["due_at"]) == began + timedelta(seconds=45)
