"""Cron expressions keep crontab's meaning on top of APScheduler's calendar math."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger

from nomaflow.engine.scheduling import cron
from nomaflow.engine.scheduling.cron import CronError, CronSchedule

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


def days(expression: str, count: int) -> list[str]:
    return [datetime.fromisoformat(f).strftime("%a %d %b") for f in fires(expression, count=count)]


# crontab(5): a day field is restricted when it does not start with `*`; when either starts with `*`
# (steps included), a day must match both. SATURDAY is Saturday 2026-11-28.
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 0 13 * */1", ["Sun 13 Dec", "Wed 13 Jan", "Sat 13 Feb"]),  # the 13th only, not daily
        ("0 0 */1 * mon", ["Mon 30 Nov", "Mon 07 Dec", "Mon 14 Dec"]),  # Mondays only
        ("0 16 */2 * sat", ["Sat 05 Dec", "Sat 19 Dec", "Sat 09 Jan"]),  # Saturdays on an odd day
        (
            "0 0 */10 * sun",
            ["Sun 31 Jan", "Sun 21 Feb", "Sun 21 Mar"],
        ),  # the 1st, 11th, 21st, 31st on a Sunday
        ("0 0 ? * mon", ["Mon 30 Nov", "Mon 07 Dec", "Mon 14 Dec"]),  # Quartz's ? is read as *
        ("0 0 13 * 0-6", ["Sun 29 Nov", "Mon 30 Nov", "Tue 01 Dec"]),  # both restricted: either day
        ("0 0 1,15 * sun", ["Sun 29 Nov", "Tue 01 Dec", "Sun 06 Dec"]),
        ("0 0 31 2 mon", ["Mon 01 Feb", "Mon 08 Feb", "Mon 15 Feb"]),  # no Feb 31st: the Mondays fire
    ],
)
def test_a_day_field_starting_with_a_star_is_not_restricted(expression: str, expected: list[str]) -> None:
    assert days(expression, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 10 * * sat-sun", ["Sun 29 Nov", "Sat 05 Dec", "Sun 06 Dec"]),
        ("0 0 * * Mon-Sun", ["Sun 29 Nov", "Mon 30 Nov", "Tue 01 Dec"]),
        ("0 0 * * Wed-Sun", ["Sun 29 Nov", "Wed 02 Dec", "Thu 03 Dec"]),
        ("0 0 * * 5-0", ["Sun 29 Nov", "Fri 04 Dec", "Sat 05 Dec"]),
        ("0 0 * * 1-0/2", ["Sun 29 Nov", "Mon 30 Nov", "Wed 02 Dec"]),  # mon, wed, fri, sun
        ("0 0 * * 7-0", ["Sun 29 Nov", "Sun 06 Dec"]),  # 7-7
        ("0 0 * * sun-sun", ["Sun 29 Nov", "Sun 06 Dec"]),  # Sunday, not the whole week (croniter's)
    ],
)
def test_a_day_of_week_range_ending_in_sunday_ends_in_7(expression: str, expected: list[str]) -> None:
    assert days(expression, len(expected)) == expected
    # "sat-sun", "sat-0" and "sat-7" are one schedule
    assert (
        CronSchedule(expression, "UTC")._triggers
        == CronSchedule(expression.replace("sun", "7").replace("Sun", "7"), "UTC")._triggers
    )


def test_macros() -> None:
    assert fires("@daily", count=1) == ["2026-11-29T00:00:00+00:00"]
    assert fires("@hourly", count=1) == ["2026-11-28T13:00:00+00:00"]


def test_next_after_is_strictly_after() -> None:
    at = datetime(2026, 11, 28, 12, 5, tzinfo=UTC)
    assert CronSchedule("5 12 * * *", "UTC").next_after(at) == datetime(2026, 11, 29, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * *", "expected 5 fields (minute hour day month weekday) or 6 with seconds first, got 3"),
        ("0 0 0 1 1 * 2030", "got 7"),  # no year field
        ("@reboot", "unknown macro (known: @yearly, @annually, @monthly"),
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 1 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("60 * * * * *", "second 60 is out of range 0-59"),
        ("0 0 * * funday", "'funday' is not a day of week (0-7 or sun..sat)"),
        ("0 0 1 janvier *", "'janvier' is not a month (1-12 or jan..dec)"),
        ("0 mon * * *", "'mon' is not an hour (0-23)"),
        ("*/0 * * * *", "a step must be at least 1 (minute '*/0')"),
        ("0 0 1,,2 * *", "cannot read day of month ''"),
        ("? * * * *", "cannot read minute '?'"),
        # crontab's ranges do not wrap around; a day-of-week range may end in Sunday written as 0
        (
            "0 0 * * 5-2",
            "day of week range '5-2' runs backwards; crontab ranges do not wrap around: write '5-6,0-2'",
        ),
        ("0 0 * * fri-mon", "write 'fri-sat,sun-mon'"),
        (
            "0 22-2 * * *",
            "hour range '22-2' runs backwards; crontab ranges do not wrap around: write '22-23,0-2'",
        ),
        (
            "0 0 1 nov-mar *",
            "month range 'nov-mar' runs backwards; crontab ranges do not wrap around: "
            "write 'nov-dec,jan-mar'",
        ),
        ("55-5 * * * *", "minute range '55-5' runs backwards"),
        ("0 23-2 * * *", "write '23,0-2'"),
        ("0 0 * * 7-2", "write '0-2'"),  # 7 is Sunday: the range starts the week
        ("0 0 1 Dec-Feb *", "write 'Dec,Jan-Feb'"),
        ("0 0 20-5/5 * *", "day of month range '20-5' runs backwards; crontab ranges do not wrap around"),
        # other schedulers' syntax, named
        ("0 0 L * *", "day of month 'L': L and W (last day, nearest weekday of the month) are Quartz syntax"),
        ("0 0 15W * *", "day of month '15W': L and W"),
        ("0 0 LW * *", "day of month 'LW': L and W"),
        ("0 0 L-2 * *", "day of month 'L-2': L and W"),
        ("0 0 * * 5L", "day of week '5L': L and # (last or nth weekday of the month) are Quartz syntax"),
        ("0 0 * * FRIL", "day of week 'FRIL': L and #"),
        ("0 0 * * fri#3", "day of week 'fri#3': L and #"),
        ("0 0 last * *", "day of month 'last': 'last' is APScheduler's syntax, not supported"),
        ("0 ~ * * *", "hour '~': '~' (a random value) is not supported"),
        ("H 0 * * *", "minute 'H': 'H' (a hashed value) is not supported"),
        # schedules that can never fire
        ("0 0 31 2 *", "it never fires: February has no day 31"),
        ("0 0 30 2 *", "it never fires: February has no day 30"),
        ("0 0 30-31 feb *", "it never fires: February has no day 30 or 31"),
        ("0 0 31 4,6,9,11 *", "it never fires: April, June, September and November have no day 31"),
        ("0 0 31 2 */2", "it never fires: February has no day 31"),  # */2: a day must match both
        ("0 0 31 2 ?", "it never fires"),
        ("0 0 0 31 apr-jun/2 *", "April and June have no day 31"),
    ],
)
def test_errors_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError) as raised:
        CronSchedule(expression, "UTC")
    assert str(raised.value).startswith(f"invalid cron '{expression}': ")
    assert message in str(raised.value)


@pytest.mark.parametrize("expression", ["0 0 29 2 *", "0 0 31 1-2 *", "0 0 31 2 mon", "0 0 */30 2 *"])
def test_a_schedule_that_fires_rarely_is_accepted(expression: str) -> None:
    assert CronSchedule(expression, "UTC").next_after(SATURDAY) is not None


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
        # the same wall-clock fields in three zones, written five ways
        schedules = [
            CronSchedule(expression, zone)
            for expression in ("0 0 * * *", "@daily", "0 0 0 * * *", "00 0 */1 * 0-7", "0 0 ? jan-dec *")
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
