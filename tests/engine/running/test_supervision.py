"""The engine keeps serving whatever one part of it does: a bus listener that raises, background work
that raises, a hook that fails or hangs, a step that ignores cancellation at shutdown. On SQLite and
PostgreSQL; the stop is clock-driven."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import anyio
import pytest

from nomaflow.actors.events import AnyEvent, RunFinished
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.config import Install
from nomaflow.engine.running.shutdown import STOP_MARGIN_SECONDS
from tests.engine.conftest import gate_of, quiet_install, reached

pytestmark = pytest.mark.anyio


def python_step(step: str, target: str, /, **kwargs: Any) -> dict[str, Any]:
    return {"name": step, "type": "python", "callable": f"enginejobs.steps:{target}", "kwargs": kwargs}


async def test_a_listener_or_background_work_that_raises_is_reported_and_the_engine_goes_on(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(name="job", steps=[python_step("a", "add", a=1, b=2)])

        def broken_listener(event: AnyEvent) -> None:
            raise RuntimeError("a listener with a bug")

        engine.bus.add_listener(broken_listener, only=(RunFinished,))
        failed = anyio.Event()

        async def broken_work() -> None:
            failed.set()
            raise ValueError("background work with a bug")

        with caplog.at_level(logging.ERROR):
            engine.spawn(broken_work(), name="the test's background work")
            await failed.wait()
            outcomes = [await (await engine.trigger("job")).wait() for _ in range(2)]
        assert [outcome.status for outcome in outcomes] == ["succeeded", "succeeded"]
        listener_errors = [r for r in caplog.records if r.name == "nomaflow.bus"]
        assert len(listener_errors) == 2
        assert listener_errors[0].run_id == outcomes[0].run_id  # type: ignore[attr-defined]
        assert any("the test's background work failed" in r.getMessage() for r in caplog.records)
        # Listeners after the broken one still heard every event: the tracker let the runs go.
        assert engine.tracker.runs == {}


async def test_a_stop_ends_within_grace_despite_a_hung_hook_and_a_step_that_ignores_cancellation(
    install: Install,
) -> None:
    """A sync step that never checks ctx.cancelled (its thread cannot be stopped), and a failure hook
    stuck the same way: both runs are recorded aborted when the grace period runs out."""
    clock = ManualClock()
    stuck, hook_stuck = f"stuck-{uuid.uuid4().hex[:8]}", f"hook-{uuid.uuid4().hex[:8]}"
    grace = 10.0
    engine = Engine(quiet_install(install), clock=clock, scheduler=False)
    async with anyio.create_task_group() as group, engine:
        engine.define_job(name="stubborn", steps=[python_step("wait", "block_until", name=stuck)])
        engine.define_job(
            name="failing",
            steps=[python_step("boom", "explode", message="no")],
            on_failure=[python_step("alert", "block_until", name=hook_stuck)],
            retry={"max_attempts": 1},
        )
        stubborn = await engine.trigger("stubborn")
        await reached(f"{stuck}:entered")
        await (await engine.trigger("failing")).wait()
        await reached(f"{hook_stuck}:entered")
        begun = clock.now()

        async def grace_runs_out() -> None:
            # The supervisor's grace period and the stop's deadline wait on the clock (with the
            # heartbeat's): move it past the grace period only.
            await clock.wait_for_sleepers(3)
            clock.advance(grace)

        group.start_soon(grace_runs_out)
        # The last thing in the block: a stop ends the engine's task group, which this block is in.
        aborted = await engine.stop(grace_seconds=grace)
    assert clock.now() - begun <= timedelta(seconds=grace + STOP_MARGIN_SECONDS)
    assert len(aborted) == 2 and stubborn.run_id in aborted
    outcome = await stubborn.wait()
    assert outcome.status == "aborted" and "grace period of 10 s ran out" in (outcome.error or "")
    async with Engine(install, scheduler=False) as again:
        for run_id in aborted:
            stored = await again.store.get_run(run_id)
            assert stored is not None and stored.status == "aborted"
    # The threads are still blocked in their steps: let them go, now that nothing waits for them.
    gate_of(stuck).set()
    gate_of(hook_stuck).set()
