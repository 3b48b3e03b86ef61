"""Cron expressions keep crontab's meaning on top of APScheduler's calendar math."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.cron import CronError, CronSchedule

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
