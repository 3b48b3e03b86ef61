"""Catch-up without an engine: which jobs have fires to run, and CatchUp running one job's missed
fires through the narrow ports it takes (a trigger and a way to spawn), never the Engine."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.engine.running.ports import Spawn
from nomaflow.engine.scheduling.catch_up import CatchUp, plan_catch_up
from tests.engine.conftest import until
from tests.engine.scheduling.test_scheduling_trust import T0, cron_job

pytestmark = pytest.mark.anyio


def test_only_jobs_with_missed_fires_are_planned_each_by_its_policy() -> None:
    every_hour = cron_job("all", window=86400)
    latest_only = replace(cron_job("latest"), name="latest")
    never_fired = replace(cron_job("all"), name="new")
    skipping = replace(cron_job("skip"), name="skip")
    now = T0 + timedelta(hours=2, minutes=30)
    plan = plan_catch_up(
        [every_hour, latest_only, never_fired, skipping], {"hourly": T0, "latest": T0, "skip": T0}, now
    )
    assert [(job.name, [fire.hour for fire in fires]) for job, fires in plan] == [
        ("hourly", [13, 14]),
        ("latest", [14]),
    ]


class Run:
    """A dispatched run that ends when the test says so."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.status = "running"
        self.ended = anyio.Event()

    async def wait(self) -> None:
        await self.ended.wait()


class Starts:
    """A trigger that records what it started; the store is unavailable from `refused_from` on."""

    def __init__(self, refused_from: datetime | None = None) -> None:
        self.runs: dict[datetime, Run] = {}
        self.refused_from = refused_from
        self.asked: list[datetime | None] = []

    async def __call__(
        self,
        job: str,
        params: Mapping[str, Any] | None = None,
        *,
        triggered_by: str = "api",
        scheduled_for: datetime | None = None,
        check_params: bool = True,
    ) -> Run:
        assert triggered_by == "cron" and scheduled_for is not None
        self.asked.append(scheduled_for)
        if self.refused_from is not None and scheduled_for >= self.refused_from:
            raise StoreUnavailable("the job store is unavailable (test)", retry_after=5)
        run = self.runs[scheduled_for] = Run(f"{job}@{scheduled_for.isoformat()}")
        return run


def spawner(group: TaskGroup) -> Spawn:
    """Engine.spawn's shape: the work runs in `group`."""

    def spawn(work: Coroutine[Any, Any, None], *, name: str) -> None:
        async def running() -> None:
            await work

        group.start_soon(running, name=name)

    return spawn


def started(starts: Starts, fire: datetime) -> Callable[[], bool]:
    return lambda: fire in starts.runs


async def test_missed_fires_run_one_after_another_each_waited_for() -> None:
    fires = [T0 + timedelta(hours=hour) for hour in (1, 2, 3)]
    starts = Starts()
    async with anyio.create_task_group() as group:
        catch_up = CatchUp(starts, spawner(group))
        catch_up(cron_job("all"), fires)
        assert catch_up.in_progress == 1
        for fire in fires:
            await until(started(starts, fire))
            assert starts.asked == fires[: fires.index(fire) + 1]  # the next waits for this one's end
            starts.runs[fire].ended.set()
    assert catch_up.in_progress == 0


async def test_catch_up_stops_at_the_first_fire_the_store_cannot_take() -> None:
    fires = [T0 + timedelta(hours=hour) for hour in (1, 2, 3)]
    starts = Starts(refused_from=fires[1])
    async with anyio.create_task_group() as group:
        catch_up = CatchUp(starts, spawner(group))
        catch_up(cron_job("all"), fires)
        await until(started(starts, fires[0]))
        starts.runs[fires[0]].ended.set()
    # The third fire is not asked for: the scheduler's restart, once the store is back, catches up.
    assert starts.asked == fires[:2] and catch_up.in_progress == 0
