"""The scheduler's first fires: jobs sharing a schedule share its calendar walk."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nomaflow.actors.retry import RetryPolicy
from nomaflow.engine import ManualClock
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.scheduling.cron import CronSchedule
from nomaflow.engine.scheduling.scheduler import CronScheduler, first_fires

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def job(name: str, schedule: CronSchedule | None) -> JobDefinition:
    return JobDefinition(
        name=name,
        app="t",
        description="",
        schedule=schedule,
        timezone=schedule.timezone if schedule else "UTC",
        enabled=True,
        params={},
        retry=RetryPolicy(),
        steps=(),
        source="test",
    )


def jobs() -> list[JobDefinition]:
    """300 jobs on three schedules (each job with its own CronSchedule, as loading gives them), and
    one run only on demand."""
    schedules = [("30 4 * * *", "UTC"), ("30 4 * * *", "Europe/Paris"), ("*/5 * * * *", "UTC")]
    return [job(f"j{i}", CronSchedule(*schedules[i % 3])) for i in range(300)] + [job("on-demand", None)]


async def test_jobs_sharing_a_schedule_share_its_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = jobs()
    expected = {j.name: j.schedule.next_after(T0) for j in declared if j.schedule is not None}
    walks: list[tuple[str, str]] = []
    next_after = CronSchedule.next_after

    def counted(self: CronSchedule, after: datetime) -> datetime | None:
        walks.append((self.expression, self.timezone))
        return next_after(self, after)

    monkeypatch.setattr(CronSchedule, "next_after", counted)
    assert first_fires(declared, T0) == expected
    assert len(walks) == 3

    walks.clear()
    scheduler = CronScheduler(lambda: declared, lambda job, fire: None, ManualClock(T0))
    scheduler.reload()
    assert scheduler.next_fires() == expected
    assert len(walks) == 3
    assert expected["j0"] == datetime(2026, 6, 2, 4, 30, tzinfo=UTC)
    assert expected["j1"] == datetime(2026, 6, 2, 2, 30, tzinfo=UTC)  # 04:30 in Paris, summer time
    assert expected["j2"] == datetime(2026, 6, 1, 12, 5, tzinfo=UTC)
