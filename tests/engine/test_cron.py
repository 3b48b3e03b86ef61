"""Cron expressions keep crontab's meaning on top of APScheduler's calendar math."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger

from nomaflow.engine import cron
from nomaflow.engine.cron import CronError, CronSchedule

SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def fires(expression: str, timezone: str = "UTC", count: int = 3) -> list[str]:
    return [f.isoformat() for f in CronSchedule(expression, timezone).next_fires(SATURDAY, count)]


def test_five_fields_in_the_jobs_timezone() -> None:
    assert fires("0 2 * * *", "Europe/Paris", 2) == ["2026-11-29T01:00:00+00:00", "2026-11-30T01:00:00+00:00"]


def test_six_fields_put_seconds_first() -> None:
    assert fires("*/15 * * * * *", count=3) == [
        "2026-11-28T12:00:15+00:00",
        "2026-11-28T12:00:30+00:00",
        "2026-11-28T12:00:45+00:00",
    ]


@pytest.mark.parametrize(("dow", "weekday"), [("0", 6), ("7", 6), ("sun", 6), ("1", 0), ("mon", 0), ("6", 5)])
def test_day_of_week_counts_from_sunday(dow: str, weekday: int) -> None:
    fire = CronSchedule(f"0 0 * * {dow}", "UTC").next_after(SATURDAY)
    assert fire is not None and fire.weekday() == weekday


def test_weekday_ranges_and_steps() -> None:
    weekdays = {datetime.fromisoformat(f).weekday() for f in fires("0 9 * * 1-5", count=10)}
    assert weekdays == {0, 1, 2, 3, 4}
    every_other = {datetime.fromisoformat(f).weekday() for f in fires("0 9 * * */2", count=8)}
    assert every_other == {6, 1, 3, 5}  # sun, tue, thu, sat


def test_day_of_month_or_day_of_week_as_in_crontab() -> None:
    days = [datetime.fromisoformat(f) for f in fires("0 0 1 * 1", count=3)]
    # Monday Nov 30, Tuesday Dec 1 (the 1st), Monday Dec 7
    assert [(d.month, d.day) for d in days] == [(11, 30), (12, 1), (12, 7)]


def test_macros() -> None:
    assert fires("@daily", count=1) == ["2026-11-29T00:00:00+00:00"]
    assert fires("@hourly", count=1) == ["2026-11-28T13:00:00+00:00"]


def test_next_after_is_strictly_after() -> None:
    at = datetime(2026, 11, 28, 12, 5, tzinfo=UTC)
    assert CronSchedule("5 12 * * *", "UTC").next_after(at) == datetime(2026, 11, 29, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * *", "expected 5 fields"),
        ("61 * * * *", "higher than the maximum"),
        ("0 0 * * 8", "day of week 8 is out of range"),
        ("0 0 * * 5-2", "runs backwards"),
        ("0 0 * * funday", "'funday' is not a day of week"),
    ],
)
def test_errors_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        CronSchedule(expression, "UTC")


def test_schedules_with_the_same_fields_share_their_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 jobs on a few schedules must not build 10,000 APScheduler triggers (~0.15 ms each)."""
    built: list[CronTrigger] = []

    class Counted(CronTrigger):  # type: ignore[misc]
        def __init__(self, **fields: Any) -> None:
            super().__init__(**fields)
            built.append(self)

    monkeypatch.setattr(cron, "CronTrigger", Counted)
    cron._wall_clock_triggers.cache_clear()
    try:
        # the same wall-clock fields in three zones, written three ways
        schedules = [
            CronSchedule(expression, zone)
            for expression in ("0 0 * * *", "@daily", "0 0 0 * * *")
            for zone in ("UTC", "Europe/Paris", "America/New_York")
            for _ in range(10)
        ]
        assert len(built) == 1
        midnights = {s.timezone: s.next_after(SATURDAY) for s in schedules}
        assert midnights == {
            "UTC": datetime(2026, 11, 29, 0, 0, tzinfo=UTC),
            "Europe/Paris": datetime(2026, 11, 28, 23, 0, tzinfo=UTC),
            "America/New_York": datetime(2026, 11, 29, 5, 0, tzinfo=UTC),
        }
        for _ in range(2):  # a bad expression is never remembered: each job gets its own error
            with pytest.raises(CronError, match="invalid cron '61 0 \\* \\* \\*'"):
                CronSchedule("61 0 * * *", "UTC")
    finally:
        cron._wall_clock_triggers.cache_clear()  # no Counted triggers left for other tests
