"""Runs end to end through Supervisor -> RunActor -> StepActor over in-memory ports."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import pytest

from nomaflow.actors import (
    EngineStopping,
    PermanentStepFailure,
    RetryPolicy,
    RunRequest,
    StepContext,
    UnknownJob,
)
from nomaflow.actors.base import Reply
from nomaflow.actors.events import StepRetrying
from nomaflow.actors.ports import StepMoved
from nomaflow.actors.retry import Backoff
from nomaflow.actors.run_actor import Admission
from nomaflow.actors.supervisor import Abort, Dispatch
from tests.actors.conftest import running
from tests.fakes import job

pytestmark = pytest.mark.anyio


def request(name: str, **params: Any) -> RunRequest:
    return RunRequest(run_id=str(uuid.uuid4()), job=name, params=params, dry_run=False, triggered_by="test")


async def returns_number(ctx: StepContext, options: dict[str, Any]) -> Any:
    ctx.log.info("computing")
    return {"n": 21}


async def doubles_previous(ctx: StepContext, options: dict[str, Any]) -> Any:
    return {"n": ctx.previous_output["n"] * 2, "first": ctx.outputs["first"]["n"]}


async def test_steps_run_in_order_and_pass_outputs() -> None:
    plan = job("pipeline", ("first", "number"), ("second", "double"))
    async with running({"number": returns_number, "double": doubles_previous}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("pipeline"))
        assert admission.status == "running"
        await admission.actor.finished.wait()
        outcome = admission.actor.outcome
    assert outcome.status == "succeeded"
    assert outcome.step("second").output == {"n": 42, "first": 21}
    assert rig.store.runs[admission.run_id].status == "succeeded"
    assert rig.store.step_statuses(admission.run_id) == ["succeeded", "succeeded"]
    assert rig.sink.of_run(admission.run_id) == [
        "RunStarted",
        "StepStarted",
        "LogLine",
        "StepFinished",
        "StepStarted",
        "StepFinished",
        "RunFinished",
    ]
    seqs = [e.seq for e in rig.sink.events if e.run_id == admission.run_id]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    # (admission + step 1 start), (step 1 end + step 2 start), (step 2 end + run end)
    assert rig.store.commits == 3


async def test_a_failing_step_retries_itself_with_backoff_through_the_clock() -> None:
    calls: list[int] = []

    async def flaky(ctx: StepContext, options: dict[str, Any]) -> Any:
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt} failed")
        return {"ok": True}

    policy = RetryPolicy(max_attempts=3, backoff=Backoff.EXPONENTIAL, initial_delay_seconds=60)
    plan = job("flaky", ("before", "number"), ("sync", "flaky"), retry=policy)
    async with running({"flaky": flaky, "number": returns_number}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("flaky"))
        start = rig.clock.now()
        await rig.clock.wait_for_sleepers()
        assert rig.clock.next_deadline() == start.replace() + __import__("datetime").timedelta(seconds=60)
        rig.clock.advance(60)
        await rig.clock.wait_for_sleepers()
        deadline = rig.clock.next_deadline()
        assert deadline is not None and (deadline - rig.clock.now()).total_seconds() == 120
        rig.clock.advance(120)
        await admission.actor.finished.wait()
    outcome = admission.actor.outcome
    assert outcome.status == "succeeded"
    assert calls == [1, 2, 3]
    assert outcome.step("sync").attempts == 3
    assert outcome.step("before").attempts == 1  # the job was not restarted, only the step
    # Succeeded after retries: neither the outcome nor the stored step keeps the last failed attempt's
    # error; each attempt's error is in its retry transition (with its delay).
    assert outcome.step("sync").error is None
    assert "error" not in rig.store.step_io[(admission.run_id, 1)]
    retries = [c for c in rig.store.transitions if isinstance(c, StepMoved) and c.trigger == "retry"]
    assert [(c.error, c.delay_seconds) for c in retries] == [
        ("ConnectionError: attempt 1 failed", 60),
        ("ConnectionError: attempt 2 failed", 120),
    ]
    kinds = rig.sink.of_run(admission.run_id)
    assert kinds.count("StepRetrying") == 2
    retrying = [e for e in rig.sink.events if isinstance(e, StepRetrying)]
    assert [e.delay_seconds for e in retrying] == [60, 120]
    assert "attempt 1 failed" in retrying[0].error
    # the unexpected exception's traceback is in the run's log
    assert any(line.fields and "traceback" in line.fields for line in rig.store.logs)


async def test_retries_exhausted_fail_the_run_and_skip_later_steps() -> None:
    async def broken(ctx: StepContext, options: dict[str, Any]) -> Any:
        raise ValueError("bad data in row 7")

    plan = job("etl", ("load", "broken"), ("report", "number"), retry=RetryPolicy(max_attempts=2))
    async with running({"broken": broken, "number": returns_number}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("etl"))
        await rig.clock.wait_for_sleepers()
        rig.clock.advance(1)
        await admission.actor.finished.wait()
    outcome = admission.actor.outcome
    assert outcome.status == "failed"
    assert outcome.error == "step 'load' failed: ValueError: bad data in row 7"
    assert [s.status for s in outcome.steps] == ["failed", "skipped"]
    assert rig.store.step_statuses(admission.run_id) == ["failed", "skipped"]
    assert rig.store.runs[admission.run_id].status == "failed"


async def test_permanent_failures_are_not_retried() -> None:
    async def refuses(ctx: StepContext, options: dict[str, Any]) -> Any:
        raise PermanentStepFailure("HTTP 404 Not Found")

    plan = job("call", ("get", "refuses"), retry=RetryPolicy(max_attempts=5))
    async with running({"refuses": refuses}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("call"))
        await admission.actor.finished.wait()
    assert admission.actor.outcome.steps[0].attempts == 1
    assert admission.actor.outcome.error == "step 'get' failed: HTTP 404 Not Found"


async def test_timeout_is_measured_on_the_clock_and_retried() -> None:
    async def hangs_first(ctx: StepContext, options: dict[str, Any]) -> Any:
        if ctx.attempt == 1:
            await anyio.sleep_forever()
        return {"attempt": ctx.attempt}

    plan = job(
        "slow", ("wait", "hangs"), retry=RetryPolicy(max_attempts=2, initial_delay_seconds=5), timeout=30
    )
    async with running({"hangs": hangs_first}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("slow"))
        await rig.clock.wait_for_sleepers()
        rig.clock.advance(30)  # the attempt's watchdog fires
        await rig.clock.wait_for_sleepers()
        retrying = [e for e in rig.sink.events if isinstance(e, StepRetrying)]
        assert retrying and retrying[0].error == "timed out after 30 s"
        rig.clock.advance(5)  # the backoff
        await admission.actor.finished.wait()
    assert admission.actor.outcome.status == "succeeded"
    assert admission.actor.outcome.steps[0].output == {"attempt": 2}


async def test_abort_cancels_the_waiting_step_within_a_second() -> None:
    started = anyio.Event()

    async def waits(ctx: StepContext, options: dict[str, Any]) -> Any:
        started.set()
        await anyio.sleep_forever()

    plan = job("long", ("export", "waits"), ("announce", "number"))
    async with running({"waits": waits, "number": returns_number}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("long"))
        await started.wait()
        begun = time.monotonic()
        assert await rig.supervisor.abort(admission.run_id, "operator clicked Abort")
        await admission.actor.finished.wait()
        elapsed = time.monotonic() - begun
        assert not await rig.supervisor.abort(admission.run_id, "again")  # already ended
    assert elapsed < 1.0
    outcome = admission.actor.outcome
    assert outcome.status == "aborted"
    assert outcome.error == "aborted: operator clicked Abort"
    assert [s.status for s in outcome.steps] == ["aborted", "skipped"]
    assert rig.store.step_statuses(admission.run_id) == ["aborted", "skipped"]
    assert "running" not in {r.status for r in rig.store.runs.values()}


async def test_an_abort_that_lands_while_a_step_end_is_being_committed_loses_no_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk's commit of a step's end and the next one's start is not shielded: the abort may
    cancel it before the store wrote anything. Those moves are then committed with the run's end."""
    plan = job("pair", ("first", "number"), ("second", "number"))
    async with running({"number": returns_number}, plan) as rig:
        store = rig.store
        apply = store.apply
        aborted: list[bool] = []

        async def apply_with_abort(changes: Any) -> None:
            # The first commit after admission (first's end, second's start): abort as it begins.
            if not aborted:
                aborted.append(await rig.supervisor.abort(admission.run_id, "operator clicked Abort"))
            await apply(changes)

        monkeypatch.setattr(store, "apply", apply_with_abort)
        admission = await rig.supervisor.dispatch(request("pair"))
        await admission.actor.finished.wait()
    assert aborted == [True]
    outcome = admission.actor.outcome
    assert outcome.status == "aborted"
    assert [s.status for s in outcome.steps] == ["succeeded", "aborted"]
    assert store.step_statuses(admission.run_id) == ["succeeded", "aborted"]
    assert store.runs[admission.run_id].status == "aborted"
    moves = [(c.trigger, c.dest) for c in store.transitions if c.run_id == admission.run_id]
    assert moves == [
        ("start", "running"),
        ("succeed", "succeeded"),
        ("start", "running"),
        ("abort", "aborted"),
        ("abort", "aborted"),
    ]


async def test_a_dispatch_while_the_job_runs_is_recorded_as_skipped() -> None:
    release = anyio.Event()

    async def blocks(ctx: StepContext, options: dict[str, Any]) -> Any:
        await release.wait()
        return {}

    plan = job("nightly", ("work", "blocks"))
    async with running({"blocks": blocks}, plan) as rig:
        first, second = request("nightly"), request("nightly")
        results = {}

        async def send(r: RunRequest) -> None:
            results[r.run_id] = await rig.supervisor.dispatch(r)

        async with anyio.create_task_group() as group:
            group.start_soon(send, first)
            group.start_soon(send, second)
        statuses = sorted(a.status for a in results.values())
        assert statuses == ["running", "skipped"]
        skipped = next(a for a in results.values() if a.status == "skipped")
        assert rig.store.runs[skipped.run_id].status == "skipped"
        assert "already running" in (rig.store.runs[skipped.run_id].error or "")
        assert rig.sink.of_run(skipped.run_id) == ["RunSkipped"]
        release.set()
        running_one = next(a for a in results.values() if a.status == "running")
        await running_one.actor.finished.wait()
        # once it ended, the job may run again
        again = await rig.supervisor.dispatch(request("nightly"))
        assert again.status == "running"
        await again.actor.finished.wait()


async def test_unknown_job_and_stopping_engine_are_refused() -> None:
    async with running({}, job("known", ("a", "x"))) as rig:
        with pytest.raises(UnknownJob):
            await rig.supervisor.dispatch(request("unknown"))


async def test_what_reaches_the_supervisor_after_it_stopped_is_answered_not_left_waiting() -> None:
    async with running({}, job("known", ("a", "x"))) as rig:
        assert await rig.supervisor.shutdown(0) == []
        # Sent at once, before the supervisor has read its stop: these queue behind it.
        dispatched: Reply[Admission] = Reply()
        asked: Reply[bool] = Reply()
        rig.supervisor.tell(Dispatch(request("known"), dispatched))
        rig.supervisor.tell(Abort("some-run", "late", asked))
        with anyio.fail_after(5):
            with pytest.raises(EngineStopping):
                await dispatched.get()
            assert await asked.get() is False
            # And from then on: queued behind the stop, or refused by the closed mailbox.
            with pytest.raises(EngineStopping):
                await rig.supervisor.dispatch(request("known"))
            assert await rig.supervisor.abort("some-run", "late") is False
            assert await rig.supervisor.shutdown(0) == []


async def test_shutdown_gives_a_grace_period_then_aborts_and_records() -> None:
    quick_done = anyio.Event()

    async def hangs(ctx: StepContext, options: dict[str, Any]) -> Any:
        await anyio.sleep_forever()

    async def quick(ctx: StepContext, options: dict[str, Any]) -> Any:
        await quick_done.wait()
        return {}

    async with running(
        {"hangs": hangs, "quick": quick}, job("hang", ("h", "hangs")), job("q", ("s", "quick"))
    ) as rig:
        stuck = await rig.supervisor.dispatch(request("hang"))
        finishing = await rig.supervisor.dispatch(request("q"))
        async with anyio.create_task_group() as group:
            aborted: list[str] = []

            async def shut() -> None:
                aborted.extend(await rig.supervisor.shutdown(10))

            group.start_soon(shut)
            await rig.clock.wait_for_sleepers()  # the grace period is running
            with pytest.raises(EngineStopping):
                await rig.supervisor.dispatch(request("q"))
            quick_done.set()
            await finishing.actor.finished.wait()
            rig.clock.advance(10)
        assert aborted == [stuck.run_id]
        assert stuck.actor.outcome.status == "aborted"
        assert "grace period of 10 s ran out" in stuck.actor.outcome.error
        assert finishing.actor.outcome.status == "succeeded"


async def test_a_resumed_run_reuses_earlier_outputs_and_runs_the_rest() -> None:
    ran: list[str] = []

    async def records(ctx: StepContext, options: dict[str, Any]) -> Any:
        ran.append(ctx.step)
        return {"from": ctx.previous_output, "first": ctx.outputs["first"]}

    plan = job("resumable", ("first", "records"), ("second", "records"))
    async with running({"records": records}, plan) as rig:
        resumed = RunRequest(
            run_id=str(uuid.uuid4()),
            job="resumable",
            params={},
            dry_run=False,
            triggered_by="recovery",
            resumed_from="earlier-run",
            start_at=1,
            reused_outputs={"first": {"n": 7}},
        )
        admission = await rig.supervisor.dispatch(resumed)
        await admission.actor.finished.wait()
    outcome = admission.actor.outcome
    assert ran == ["second"]
    assert outcome.status == "succeeded"
    assert outcome.step("first").status == "succeeded" and outcome.step("first").attempts == 0
    assert outcome.step("second").output == {"from": {"n": 7}, "first": {"n": 7}}
    reuse = [c for c in rig.store.transitions if isinstance(c, StepMoved) and c.trigger == "reuse"]
    assert len(reuse) == 1 and reuse[0].output == {"n": 7}
    assert any("reused from run earlier-run" in line.message for line in rig.store.logs)


async def test_a_dispatch_right_after_a_run_ended_is_admitted_not_skipped() -> None:
    plan = job("per-second", ("tick", "number"))
    async with running({"number": returns_number}, plan) as rig:
        first = await rig.supervisor.dispatch(request("per-second"))
        # Wait for the end to be committed, but not for the actor to wind down and be forgotten.
        while not first.actor.ended_in_store:
            await anyio.lowlevel.checkpoint()
        second = await rig.supervisor.dispatch(request("per-second"))
        assert second.status == "running"
        await second.actor.finished.wait()
        assert second.actor.outcome.status == "succeeded"
        third = await rig.supervisor.dispatch(request("per-second"))  # the map still tracks the newest
        assert third.status == "running"
        await third.actor.finished.wait()


async def test_a_burst_of_dispatches_becomes_run_actors_before_the_first_admission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A herd of cron fires: the supervisor takes its whole backlog in one turn, so every run is
    already on its way to admission when the first admission is written."""
    plans = [job(f"herd-{n}", ("tick", "number")) for n in range(30)]
    async with running({"number": returns_number}, *plans) as rig:
        in_flight_at_first_admit: list[int] = []
        admit = rig.store.admit

        async def noting_admit(*args: Any, **kwargs: Any) -> bool:
            in_flight_at_first_admit.append(len(rig.supervisor.in_flight()))
            return await admit(*args, **kwargs)

        monkeypatch.setattr(rig.store, "admit", noting_admit)
        async with anyio.create_task_group() as group:
            for plan in plans:
                group.start_soon(rig.supervisor.dispatch, request(plan.name))
        assert in_flight_at_first_admit[0] == 30
        while rig.supervisor.in_flight():
            await anyio.lowlevel.checkpoint()
    assert {run.status for run in rig.store.runs.values()} == {"succeeded"}
    assert len(rig.store.runs) == 30


async def test_a_finished_run_is_freed_without_the_garbage_collector() -> None:
    """A run actor and everything it holds go as soon as the last reference does: no reference cycle
    keeps them for the collector, whose full passes stall the event loop when thousands pile up."""
    import gc
    import weakref

    plan = job("pipeline", ("first", "number"), ("second", "double"))
    async with running({"number": returns_number, "double": doubles_previous}, plan) as rig:
        admission = await rig.supervisor.dispatch(request("pipeline"))
        await admission.actor.finished.wait()
        gone = weakref.ref(admission.actor)
        steps = [weakref.ref(step) for step in admission.actor._steps]
        gc.collect()
        gc.disable()  # from here on, only reference counting frees anything
        try:
            del admission
            with anyio.fail_after(5):
                while rig.supervisor.in_flight():  # the supervisor hears the run ended
                    await anyio.lowlevel.checkpoint()
            assert gone() is None
            assert all(step() is None for step in steps)
        finally:
            gc.enable()
