"""The engine end to end on SQLite and PostgreSQL: python steps, outputs, persistence, events, one run
at a time, abort, shutdown, cron through the clock, and jobs defined in Python."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from nomaflow.actors.events import RunFinished
from nomaflow.engine import ConfigError, Engine, ManualClock
from nomaflow.engine.config import Install
from nomaflow.engine.config.params import ParamError
from tests.engine.conftest import quiet_install, reached, until

pytestmark = pytest.mark.anyio


def gate(name: str) -> Any:
    from enginejobs.steps import gate as named_gate

    return named_gate(name)


def python_step(step: str, target: str, /, **kwargs: Any) -> dict[str, Any]:
    return {"name": step, "type": "python", "callable": f"enginejobs.steps:{target}", "kwargs": kwargs}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_steps_chain_outputs_persist_and_stream(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(
            name="chain",
            params={"a": 1},
            steps=[
                python_step("add", "add", a="${params.a}", b=20),
                python_step("double", "double", value="${previous.output.sum}"),
            ],
        )
        run = await engine.trigger("chain", params={"a": 22}, triggered_by="cli:alice")
        events = [type(event).__name__ async for event in run.events()]
        outcome = await run.wait()
        assert outcome.status == "succeeded"
        assert outcome.step("double").output == {"value": 84, "dry_run": False, "run_id": run.run_id}
        assert events == [
            "RunStarted",
            "StepStarted",
            "StepFinished",
            "StepStarted",
            "LogLine",
            "LogLine",
            "StepFinished",
            "RunFinished",
        ]
        stored = await engine.store.get_run(run.run_id)
        assert stored is not None
        assert (stored.status, stored.triggered_by, stored.params) == ("succeeded", "cli:alice", {"a": 22})
        assert stored.owner == engine.instance_id and stored.finished_at is not None
        steps = await engine.store.get_steps(run.run_id)
        assert [(s.step_name, s.status, s.attempts) for s in steps] == [
            ("add", "succeeded", 1),
            ("double", "succeeded", 1),
        ]
        assert steps[1].input == {"callable": "enginejobs.steps:double", "kwargs": {"value": 42}}
        assert steps[0].output == {"sum": 42}
        logs = await engine.store.get_logs(run.run_id)
        messages = [
            (log.level, log.step_name, log.message) for log in logs if not (log.fields or {}).get("event")
        ]
        assert messages == [("info", "double", "doubling"), ("warning", "double", "a warning line")]
        assert [log.seq for log in logs] == sorted(log.seq for log in logs)
        assert engine.tracker.runs == {}  # it left the in-flight view when it ended


async def test_a_blocking_sync_step_does_not_delay_another_run(install: Install) -> None:
    name = unique("gate")
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(name="blocker", steps=[python_step("block", "block_until", name=name)])
        engine.define_job(name="quick", steps=[python_step("add", "add", a=1, b=2)])
        blocked = await engine.trigger("blocker")
        await reached(f"{name}:entered")
        quick = await engine.trigger("quick")
        with anyio.fail_after(5):
            assert (await quick.wait()).status == "succeeded"
        assert not gate(name).is_set()  # the other run's step is still blocking its thread
        gate(name).set()
        assert (await blocked.wait()).status == "succeeded"


async def test_abort_of_an_async_step_ends_the_run_within_a_second(install: Install) -> None:
    name = unique("forever")
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(
            name="long",
            steps=[python_step("wait", "wait_forever", name=name), python_step("after", "add", a=1, b=1)],
        )
        run = await engine.trigger("long")
        await reached(f"{name}:entered")
        begun = time.monotonic()
        assert await run.abort("operator pressed Abort")
        outcome = await run.wait()
        assert time.monotonic() - begun < 1.0
        assert outcome.status == "aborted"
        stored = await engine.store.get_run(run.run_id)
        assert stored is not None and stored.status == "aborted"
        assert stored.error == "aborted: operator pressed Abort"
        steps = await engine.store.get_steps(run.run_id)
        assert [s.status for s in steps] == ["aborted", "skipped"]
        page = await engine.store.list_runs(status="running")
        assert page.runs == []
        assert not await run.abort()  # idempotent: nothing left to abort


async def test_two_dispatches_at_once_one_runs_one_is_skipped(install: Install) -> None:
    name = unique("overlap")
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(name="nightly", steps=[python_step("block", "block_until", name=name)])
        handles = []

        async def trigger() -> None:
            handles.append(await engine.trigger("nightly", triggered_by="cron"))

        async with anyio.create_task_group() as group:
            group.start_soon(trigger)
            group.start_soon(trigger)
        assert sorted(h.status for h in handles) == ["running", "skipped"]
        skipped = next(h for h in handles if h.skipped)
        row = await engine.store.get_run(skipped.run_id)
        assert row is not None and row.status == "skipped" and "already running" in (row.error or "")
        gate(name).set()
        assert (await next(h for h in handles if not h.skipped).wait()).status == "succeeded"


async def test_two_engines_on_one_database_never_run_a_job_twice(install: Install, database_url: str) -> None:
    name = unique("replicas")
    async with Engine(install, scheduler=False) as first, Engine(install, scheduler=False) as second:
        for engine in (first, second):
            engine.define_job(name="sync", steps=[python_step("block", "block_until", name=name)])
        running = await first.trigger("sync")
        assert running.status == "running"
        refused = await second.trigger("sync")
        assert refused.status == "skipped"
        outcome = await refused.wait()
        assert outcome.status == "skipped" and "another engine process" in (outcome.error or "")
        gate(name).set()
        assert (await running.wait()).status == "succeeded"
        stored = await second.store.get_run(refused.run_id)
        assert stored is not None and stored.status == "skipped"


async def test_failures_are_clear_and_recorded(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(name="bad-output", steps=[python_step("s", "unjsonable")])
        engine.define_job(name="boom", steps=[python_step("s", "explode", message="disk full")])
        engine.define_job(
            name="bad-ref",
            steps=[
                python_step("a", "add", a=1, b=2),
                python_step("b", "double", value="${previous.output.total}"),
            ],
        )
        outcome = await (await engine.trigger("bad-output")).wait()
        assert outcome.status == "failed" and "not JSON-able" in (outcome.error or "")
        outcome = await (await engine.trigger("boom")).wait()
        assert outcome.error == "step 's' failed: RuntimeError: disk full"
        outcome = await (await engine.trigger("bad-ref")).wait()
        assert outcome.status == "failed"
        assert "'${previous.output.total}': no 'total' in an object with keys [sum]" in (outcome.error or "")
        with pytest.raises(ParamError, match="job 'boom' has no param 'x'"):
            await engine.trigger("boom", params={"x": 1})


async def test_params_and_dry_run_reach_the_step(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(
            name="p", params={"value": 1}, steps=[python_step("d", "double", value="${params.value}")]
        )
        with pytest.raises(ParamError, match="param 'value' of job 'p' expects a whole number"):
            await engine.trigger("p", params={"value": "three"})
        outcome = await (await engine.trigger("p", params={"value": 5}, dry_run=True)).wait()
        assert outcome.step("d").output["value"] == 10 and outcome.step("d").output["dry_run"] is True


async def test_jobs_defined_in_python_get_the_same_checks(install: Install) -> None:
    engine = Engine(install, scheduler=False)
    with pytest.raises(ConfigError) as raised:
        engine.define_job(
            name="x", schedule="0 0 * * *", timezone="Mars/Base", steps=[{"name": "s", "type": "pyhton"}]
        )
    paths = {p.path for p in raised.value.problems}
    assert paths == {"timezone", "steps[0].type"}


async def test_cron_fires_through_the_clock_with_the_exact_scheduled_time(install: Install) -> None:
    start = datetime(2026, 6, 1, 12, 0, 3, tzinfo=UTC)
    clock = ManualClock(start)
    async with Engine(quiet_install(install), clock=clock, scheduler=True) as engine:
        engine.define_job(
            name="every-10s", schedule="*/10 * * * * *", steps=[python_step("s", "add", a=1, b=1)]
        )
        finished = engine.bus.subscribe()
        await until(lambda: engine.scheduler is not None and engine.scheduler.waiting)
        assert clock.next_deadline() == datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)
        clock.advance(7)
        with anyio.fail_after(10):
            async for event in finished:
                if isinstance(event, RunFinished):
                    break
        finished.close()
        page = await engine.store.list_runs(job="every-10s")
        [run] = page.runs
        assert run.triggered_by == "cron"
        assert run.scheduled_for == datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)
        assert run.status == "succeeded"
        assert engine.next_fires()["every-10s"] == datetime(2026, 6, 1, 12, 0, 20, tzinfo=UTC)


async def test_shutdown_waits_for_the_grace_period_then_records_aborts(install: Install) -> None:
    name = unique("shutdown")
    engine = Engine(install, scheduler=False)
    async with engine:
        engine.define_job(name="stuck", steps=[python_step("wait", "wait_forever", name=name)])
        run = await engine.trigger("stuck")
        await reached(f"{name}:entered")
        aborted = await engine.stop(grace_seconds=0.05)
    assert aborted == [run.run_id]
    outcome = await run.wait()
    assert outcome.status == "aborted" and "grace period" in (outcome.error or "")
    async with Engine(install, scheduler=False) as again:
        stored = await again.store.get_run(run.run_id)
        assert stored is not None and stored.status == "aborted"
        assert [s.status for s in await again.store.get_steps(run.run_id)] == ["aborted"]
        assert stored.finished_at is not None and stored.finished_at - stored.started_at < timedelta(
            seconds=5
        )


async def test_retry_from_the_failed_step_reuses_earlier_outputs(install: Install) -> None:
    from nomaflow.engine.engine import RetryRefused

    name = unique("retry")
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(
            name="fragile",
            steps=[
                python_step("add", "add", a=2, b=3),
                python_step("wait", "wait_forever", name=name),
                python_step("double", "double", value="${steps.add.output.sum}"),
            ],
        )
        first = await engine.trigger("fragile")
        await reached(f"{name}:entered")
        await first.abort()
        assert (await first.wait()).status == "aborted"
        gate(f"{name}:entered").clear()
        retried = await engine.retry(first.run_id, triggered_by="user:alice")
        await reached(f"{name}:entered")
        await retried.abort("still stuck")
        outcome = await retried.wait()
        assert [s.status for s in outcome.steps] == ["succeeded", "aborted", "skipped"]
        assert outcome.step("add").attempts == 0 and outcome.step("add").output == {"sum": 5}
        stored = await engine.store.get_run(retried.run_id)
        assert (
            stored is not None and stored.resumed_from == first.run_id and stored.triggered_by == "user:alice"
        )
        with pytest.raises(RetryRefused, match="no run with id"):
            await engine.retry("00000000-0000-0000-0000-000000000000")
        engine.define_job(name="fine", steps=[python_step("add", "add", a=1, b=1)])
        succeeded = await (await engine.trigger("fine")).wait()
        with pytest.raises(RetryRefused, match="is succeeded: only failed or aborted runs can be retried"):
            await engine.retry(succeeded.run_id)
