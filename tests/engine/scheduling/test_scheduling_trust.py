"""Scheduling you can trust: catch-up of missed fires, leadership among engines sharing a store, runs
of dead engines failed (and resumed), run timeouts, hooks and the dead-man's switch. Clock-driven."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from nomaflow.actors.ports import RunRecord, StepRecord
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.config import Install
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.scheduling.catch_up import missed_fires
from nomaflow.engine.scheduling.cron import CronSchedule
from nomaflow.states import RunState, StepState, StepTrigger
from tests.engine.conftest import quiet_install, reached, until

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def python_step(step: str, target: str, /, **kwargs: Any) -> dict[str, Any]:
    return {"name": step, "type": "python", "callable": f"enginejobs.steps:{target}", "kwargs": kwargs}


def cron_job(policy: str, window: float = 3600) -> JobDefinition:
    from nomaflow.actors.retry import RetryPolicy

    return JobDefinition(
        name="hourly",
        app="t",
        description="",
        schedule=CronSchedule("0 * * * *", "UTC"),
        timezone="UTC",
        enabled=True,
        params={},
        retry=RetryPolicy(),
        steps=(),
        source="test",
        catch_up=policy,
        catch_up_window_seconds=window,
    )


@pytest.mark.parametrize(
    ("policy", "window", "expected_hours"),
    [("skip", 86400, []), ("latest", 86400, [16]), ("all", 86400, [13, 14, 15, 16]), ("all", 7200, [15, 16])],
)
def test_missed_fires_follow_the_policy_and_window(
    policy: str, window: float, expected_hours: list[int]
) -> None:
    last = T0  # 12:00 ran; the engine was down until 16:30
    now = T0 + timedelta(hours=4, minutes=30)
    fires = missed_fires(cron_job(policy, window), last, now)
    assert [fire.hour for fire in fires] == expected_hours


def test_a_job_never_fired_has_nothing_to_catch_up() -> None:
    assert missed_fires(cron_job("all"), None, T0) == []


async def test_restarting_catches_up_once_and_never_adds_runs(install: Install) -> None:
    clock = ManualClock(T0)
    table: dict[str, Any] = {
        "name": "hourly",
        "schedule": "0 * * * *",
        "catch_up": "all",
        "catch_up_window": "6h",
        "steps": [python_step("s", "add", a=1, b=1)],
    }

    async def start_and_settle() -> list[Any]:
        async with Engine(quiet_install(install), clock=clock) as engine:
            engine.define_job(**table)
            await scheduling(engine)
            await until(lambda: not engine.catching_up and not engine.in_flight())
            return (await engine.store.list_runs(job="hourly")).runs

    assert await start_and_settle() == []  # first start: nothing recorded, nothing to catch up
    clock.set(T0 + timedelta(minutes=59, seconds=59))
    async with Engine(quiet_install(install), clock=clock) as engine:
        engine.define_job(**table)
        await scheduling(engine)
        finished = engine.bus.subscribe()
        clock.advance(1)  # 13:00 fires while this engine runs
        with anyio.fail_after(10):
            async for event in finished:
                if type(event).__name__ == "RunFinished":
                    break
        finished.close()
    clock.set(T0 + timedelta(hours=3, minutes=30))  # down from 13:00 to 15:30: 14:00 and 15:00 missed
    after_first_restart = await start_and_settle()
    clock.advance(60)
    after_second_restart = await start_and_settle()
    fires = sorted(run.scheduled_for.hour for run in after_second_restart)
    assert fires == [13, 14, 15]
    assert len(after_first_restart) == len(after_second_restart) == 3
    assert all(run.triggered_by == "cron" for run in after_second_restart)


async def test_one_leader_among_engines_sharing_a_store_and_hand_over(install: Install) -> None:
    clock = ManualClock(T0)
    install.settings.jobs.leader_renew_seconds = 2
    install.settings.jobs.heartbeat_seconds = 3600
    first, second = Engine(install, clock=clock), Engine(install, clock=clock)
    async with anyio.create_task_group() as group:
        # Each engine lives in a task of its own, as it would in a process of its own.
        stop_first = await host(group, first)
        stop_second = await host(group, second)
        assert first.scheduler_running and not second.scheduler_running
        assert await lock_holder(first) == first.instance_id
        stop_first.set()  # a clean stop hands leadership back at once
        await until(lambda: first.stopped)
        await clock.wait_for_sleepers(2)  # the follower's renew and its heartbeat
        clock.advance(2)  # its next attempt
        await until(lambda: second.scheduler_running)
        assert await lock_holder(second) == second.instance_id
        stop_second.set()


async def host(group: Any, engine: Engine) -> anyio.Event:
    started, stop = anyio.Event(), anyio.Event()

    async def live() -> None:
        async with engine:
            started.set()
            await stop.wait()

    group.start_soon(live)
    await started.wait()
    return stop


async def scheduling(engine: Engine) -> None:
    """Until this engine leads and its scheduler is asleep until the next fire."""
    await until(lambda: engine.scheduler is not None and engine.scheduler.waiting)


async def lock_holder(engine: Engine) -> str:
    from sqlalchemy import select

    from nomaflow.engine.store import create_engine
    from nomaflow.engine.store.tables import jobs_lock

    database = create_engine(engine.database_url)  # the lock's table is the leadership's, not the store's
    try:
        async with database.connect() as connection:
            return str((await connection.execute(select(jobs_lock.c.holder))).scalar_one())
    finally:
        await database.dispose()


async def test_a_dead_engines_run_is_failed_as_interrupted_and_resumed(install: Install) -> None:
    clock = ManualClock(T0)
    install.settings.jobs.interrupted_after_seconds = 30
    async with Engine(quiet_install(install), clock=clock, scheduler=False) as engine:
        engine.define_job(
            name="etl",
            on_interrupt="resume",
            steps=[
                python_step("extract", "add", a=1, b=2),
                python_step("load", "double", value="${previous.output.sum}"),
                python_step("report", "add", a=0, b=0),
            ],
        )
        dead = str(uuid.uuid4())
        # What an engine killed in the middle of "load" leaves behind.
        await engine.store.admit(
            RunRecord(
                id=dead,
                job_name="etl",
                app="python",
                status=RunState.RUNNING,
                triggered_by="cron",
                params={},
                dry_run=False,
                started_at=T0 - timedelta(minutes=5),
                owner="dead-engine",
            ),
            [
                StepRecord(run_id=dead, position=i, step_name=n, type="python")
                for i, n in enumerate(("extract", "load", "report"))
            ],
            1,
        )
        from nomaflow.actors.ports import StepMoved

        await engine.store.apply(
            [
                StepMoved(
                    run_id=dead,
                    seq=2,
                    position=0,
                    step_name="extract",
                    trigger=StepTrigger.START,
                    source=StepState.PENDING,
                    dest=StepState.RUNNING,
                    at=T0 - timedelta(minutes=5),
                    attempts=1,
                    input={},
                ),
                StepMoved(
                    run_id=dead,
                    seq=3,
                    position=0,
                    step_name="extract",
                    trigger=StepTrigger.SUCCEED,
                    source=StepState.RUNNING,
                    dest=StepState.SUCCEEDED,
                    at=T0 - timedelta(minutes=4),
                    attempts=1,
                    output={"sum": 3},
                ),
                StepMoved(
                    run_id=dead,
                    seq=4,
                    position=1,
                    step_name="load",
                    trigger=StepTrigger.START,
                    source=StepState.PENDING,
                    dest=StepState.RUNNING,
                    at=T0 - timedelta(minutes=4),
                    attempts=1,
                    input={},
                ),
            ]
        )
        assert engine.recovery is not None
        found = await engine.recovery.beat()
        assert [run.run_id for run in found] == [dead]
        stored = await engine.store.get_run(dead)
        assert stored is not None and stored.status == "failed"
        assert "interrupted: engine dead-engine stopped heartbeating" in (stored.error or "")
        assert [s.status for s in await engine.store.get_steps(dead)] == ["succeeded", "failed", "skipped"]
        assert await engine.recovery.beat() == []  # reported once
        await until(lambda: not engine.in_flight())
        recovery = [r for r in (await engine.store.list_runs(job="etl")).runs if r.id != dead]
        [resumed] = recovery
        assert (resumed.triggered_by, resumed.resumed_from, resumed.status) == ("recovery", dead, "succeeded")
        steps = await engine.store.get_steps(resumed.id)
        assert [(s.status, s.attempts) for s in steps] == [
            ("succeeded", 0),
            ("succeeded", 1),
            ("succeeded", 1),
        ]
        assert steps[1].output["value"] == 6  # computed from the reused output of "extract"


async def test_own_runs_are_heartbeated_not_reaped(install: Install) -> None:
    clock = ManualClock(T0)
    name = f"beat-{uuid.uuid4().hex[:6]}"
    async with Engine(quiet_install(install), clock=clock, scheduler=False) as engine:
        engine.define_job(name="long", steps=[python_step("w", "wait_forever", name=name)])
        run = await engine.trigger("long")
        await reached(f"{name}:entered")
        clock.advance(3600)
        assert engine.recovery is not None
        assert await engine.recovery.beat() == []
        stored = await engine.store.get_run(run.run_id)
        assert stored is not None and stored.status == "running" and stored.heartbeat_at == clock.now()
        await run.abort()


async def test_a_run_that_exceeds_its_timeout_fails(install: Install) -> None:
    clock = ManualClock(T0)
    name = f"slow-{uuid.uuid4().hex[:6]}"
    async with Engine(quiet_install(install), clock=clock, scheduler=False) as engine:
        engine.define_job(
            name="slow",
            timeout_seconds=600,
            steps=[python_step("w", "wait_forever", name=name), python_step("n", "add", a=1, b=1)],
        )
        run = await engine.trigger("slow")
        await reached(f"{name}:entered")
        await clock.wait_for_sleepers(2)  # the run's timeout and the heartbeat
        clock.advance(600)
        outcome = await run.wait()
        assert outcome.status == "failed" and outcome.error == "the run timed out after 600 s"
        assert [s.status for s in outcome.steps] == ["aborted", "skipped"]


async def test_hooks_run_after_failure_and_success_with_the_runs_details(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(
            name="nightly",
            params={"fail": True},
            steps=[python_step("work", "explode", message="disk full")],
            on_failure=[
                python_step(
                    "notify",
                    "echo",
                    text="${params.job} ${params.status}: ${params.error} (step ${params.failed_step})",
                )
            ],
        )
        engine.define_job(
            name="fine",
            steps=[python_step("a", "add", a=1, b=1)],
            on_success=[python_step("cheer", "echo", text="${params.job} ok in run ${params.run_id}")],
        )
        assert "nightly.on-failure" in engine.jobs
        failed = await (await engine.trigger("nightly")).wait()
        await until(lambda: bool(engine.in_flight()) or True)
        hook_runs = await wait_for_runs(engine, "nightly.on-failure", 1)
        [hook] = hook_runs
        assert hook.triggered_by == "hook" and hook.status == "succeeded"
        steps = await engine.store.get_steps(hook.id)
        assert steps[0].output == {
            "text": "nightly failed: step 'work' failed: RuntimeError: disk full (step work)"
        }
        assert hook.params["run_id"] == failed.run_id
        ok = await (await engine.trigger("fine")).wait()
        [cheer] = await wait_for_runs(engine, "fine.on-success", 1)
        assert (await engine.store.get_steps(cheer.id))[0].output == {"text": f"fine ok in run {ok.run_id}"}
        assert await engine.store.list_runs(job="fine.on-failure") is not None


async def wait_for_runs(engine: Engine, job: str, count: int) -> list[Any]:
    with anyio.fail_after(10):
        while True:
            runs = [r for r in (await engine.store.list_runs(job=job)).runs if r.status != "running"]
            if len(runs) >= count:
                return runs
            await anyio.lowlevel.checkpoint()


async def test_dead_mans_switch_alerts_once_per_silent_period(install: Install) -> None:
    clock = ManualClock(T0)
    async with Engine(quiet_install(install), clock=clock, scheduler=False) as engine:
        engine.define_job(
            name="payroll",
            alert_if_no_success_within="26h",
            steps=[python_step("a", "add", a=1, b=1)],
            on_failure=[python_step("page", "echo", text="${params.reason}")],
        )
        hooks = engine._hooks
        assert hooks is not None  # made when the engine starts
        assert await hooks.check_silence(T0) == []
        clock.advance(25 * 3600)
        assert (await (await engine.trigger("payroll")).wait()).status == "succeeded"
        clock.advance(25 * 3600)
        assert await hooks.check_silence(T0) == []  # succeeded 25 h ago
        clock.advance(2 * 3600)
        assert await hooks.check_silence(T0) == ["payroll"]
        assert await hooks.check_silence(T0) == []  # not again until another 26 h of silence
        [alert] = await wait_for_runs(engine, "payroll.on-failure", 1)
        text = (await engine.store.get_steps(alert.id))[0].output["text"]
        assert text.startswith("no successful run since") and "26h" in text
        clock.advance(26 * 3600)
        assert await hooks.check_silence(T0) == ["payroll"]


async def test_an_interrupted_runs_end_follows_its_last_log_row_past_a_page(install: Install) -> None:
    # More log rows than one page of get_logs (1000): the RunFinished that recovery publishes must
    # carry the sequence number after the run's last row, not the last of the first page.
    from nomaflow.actors.events import AnyEvent, LogLine, RunFinished

    clock = ManualClock(T0)
    install.settings.jobs.interrupted_after_seconds = 30
    async with Engine(quiet_install(install), clock=clock, scheduler=False) as engine:
        engine.define_job(name="chatty", steps=[python_step("talk", "add", a=1, b=2)])
        dead = str(uuid.uuid4())
        await engine.store.admit(
            RunRecord(
                id=dead,
                job_name="chatty",
                app="python",
                status=RunState.RUNNING,
                triggered_by="cron",
                params={},
                dry_run=False,
                started_at=T0 - timedelta(minutes=5),
                owner="dead-engine",
            ),
            [StepRecord(run_id=dead, position=0, step_name="talk", type="python")],
            1,
        )
        at = T0 - timedelta(minutes=4)
        await engine.store.append_logs(
            [
                LogLine(run_id=dead, job="chatty", seq=seq, at=at, step="talk", level="info", message="hi")
                for seq in range(2, 1202)
            ]
        )
        ends: list[AnyEvent] = []
        engine.bus.add_listener(ends.append, only=(RunFinished,))
        assert engine.recovery is not None
        assert [run.run_id for run in await engine.recovery.beat()] == [dead]
        [end] = [event for event in ends if isinstance(event, RunFinished) and event.run_id == dead]
        last = await engine.store.last_logs(dead, limit=1)
        assert last[-1].seq >= 1201 and end.seq == last[-1].seq
