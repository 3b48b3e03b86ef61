"""Daylight saving time: what APScheduler 3.11 does on its own, the semantics we keep instead
(docs/operations.md, "Daylight saving time and time zones"), and a DST night through the engine.

The nights: Europe/Paris skips 02:00-03:00 on 2026-03-29 (at 01:00 UTC) and repeats 02:00-03:00 on
2026-10-25 (first copy 00:00-01:00 UTC, second 01:00-02:00 UTC); America/New_York skips 02:00-03:00 on
2026-03-08 (at 07:00 UTC) and repeats 01:00-02:00 on 2026-11-01 (05:00-06:00 UTC, then 06:00-07:00 UTC).
All tests move time by hand: no sleeps.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest
from apscheduler.triggers.cron import CronTrigger

from nomaflow.actors.events import AnyEvent, RunFinished, RunSkipped
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.scheduling.cron import CronSchedule
from tests.engine.conftest import make_install, quiet_install, until

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(fires: list[datetime], zone: ZoneInfo) -> list[str]:
    """Fires as local wall time with their offset, e.g. '03-29 03:00+0200'."""
    # Through UTC: APScheduler hands back local datetimes, some of them nonexistent (in a gap).
    return [fire.astimezone(UTC).astimezone(zone).strftime("%m-%d %H:%M%z") for fire in fires]


def ours(expression: str, zone: ZoneInfo, after: str, count: int) -> list[str]:
    return local(CronSchedule(expression, zone.key).next_fires(utc(after), count), zone)


def apscheduler_alone(expression: str, zone: ZoneInfo, after: str, count: int) -> list[str]:
    trigger = CronTrigger.from_crontab(expression, timezone=zone)
    fires: list[datetime] = []
    cursor = utc(after)
    while len(fires) < count:
        fire = trigger.get_next_fire_time(None, cursor + timedelta(microseconds=1))
        assert fire is not None
        fires.append(fire)
        cursor = fire.astimezone(UTC)  # aware local arithmetic would drop `fold`, so step in UTC
    return local(fires, zone)


# --- what APScheduler 3.11 does on its own (the reasons next_after corrects it) ---------------------


def test_apscheduler_runs_a_fixed_time_job_twice_on_the_fall_back_night() -> None:
    assert apscheduler_alone("30 2 * * *", PARIS, "2026-10-24T12:00", 3) == [
        "10-25 02:30+0200",
        "10-25 02:30+0100",  # the same day again
        "10-26 02:30+0100",
    ]
    assert apscheduler_alone("30 1 * * *", NEW_YORK, "2026-10-31T12:00", 2) == [
        "11-01 01:30-0400",
        "11-01 01:30-0500",
    ]


def test_apscheduler_moves_a_skipped_fire_by_the_length_of_the_gap() -> None:
    # 02:30 does not exist: APScheduler returns "02:30+01:00", which is 03:30 CEST, half an hour
    # after the clocks reach 03:00.
    assert apscheduler_alone("30 2 * * *", PARIS, "2026-03-28T12:00", 2) == [
        "03-29 03:30+0200",
        "03-30 02:30+0200",
    ]


def test_apscheduler_drops_a_skipped_fire_when_the_hour_field_lists_it() -> None:
    # With 01:30 also listed, the 02:30 of the spring-forward night is lost without a trace.
    assert apscheduler_alone("30 1,2 * * *", PARIS, "2026-03-29T00:00", 2) == [
        "03-29 01:30+0100",
        "03-30 01:30+0200",  # no 02:30 (nor 03:00, nor 03:30) on 03-29
    ]


def test_apscheduler_fires_a_stepped_schedule_at_a_time_it_does_not_match() -> None:
    # Every two hours (even hours): APScheduler fires at 03:00, an odd hour, for the missing 02:00.
    assert apscheduler_alone("0 */2 * * *", PARIS, "2026-03-28T22:30", 3) == [
        "03-29 00:00+0100",
        "03-29 03:00+0200",
        "03-29 04:00+0200",
    ]


# --- fixed-time schedules: once per day, whatever the night ------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # spring forward: the skipped time fires once, when the gap ends
        ("30 2 * * *", PARIS, "2026-03-28T12:00", ["03-29 03:00+0200", "03-30 02:30+0200"]),
        ("0 2 * * *", PARIS, "2026-03-28T12:00", ["03-29 03:00+0200", "03-30 02:00+0200"]),
        ("30 2 * * *", NEW_YORK, "2026-03-07T12:00", ["03-08 03:00-0400", "03-09 02:30-0400"]),
        ("59 2 * * *", NEW_YORK, "2026-03-07T12:00", ["03-08 03:00-0400", "03-09 02:59-0400"]),
        # times around the gap are untouched
        ("30 1 * * *", PARIS, "2026-03-28T12:00", ["03-29 01:30+0100", "03-30 01:30+0200"]),
        ("0 3 * * *", PARIS, "2026-03-28T12:00", ["03-29 03:00+0200", "03-30 03:00+0200"]),
        # fall back: a repeated time fires once, at its first occurrence
        ("30 2 * * *", PARIS, "2026-10-24T12:00", ["10-25 02:30+0200", "10-26 02:30+0100"]),
        ("0 2 * * *", PARIS, "2026-10-24T12:00", ["10-25 02:00+0200", "10-26 02:00+0100"]),
        ("30 1 * * *", NEW_YORK, "2026-10-31T12:00", ["11-01 01:30-0400", "11-02 01:30-0500"]),
        ("0 1 * * *", NEW_YORK, "2026-10-31T12:00", ["11-01 01:00-0400", "11-02 01:00-0500"]),
        # 02:30 is not repeated in New York (01:00-02:00 is)
        ("30 2 * * *", NEW_YORK, "2026-10-31T12:00", ["11-01 02:30-0500", "11-02 02:30-0500"]),
        # several listed hours: the listed fire in the gap is moved, not lost (APScheduler drops it)
        ("30 1,2 * * *", PARIS, "2026-03-29T00:00", ["03-29 01:30+0100", "03-29 03:00+0200"]),
        ("30 1,2 * * *", PARIS, "2026-10-24T23:00", ["10-25 01:30+0200", "10-25 02:30+0200"]),
        # a moved fire that lands on a fire of its own runs once
        ("0 2,3 * * *", NEW_YORK, "2026-03-08T06:00", ["03-08 03:00-0400", "03-09 02:00-0400"]),
        # seconds count as time of day too
        ("15 30 2 * * *", PARIS, "2026-03-28T12:00", ["03-29 03:00+0200", "03-30 02:30+0200"]),
        # weekly, monthly and yearly schedules whose day is the DST night (2026-03-29 is a Sunday)
        ("30 2 * * 0", PARIS, "2026-03-27T12:00", ["03-29 03:00+0200", "04-05 02:30+0200"]),
        ("30 2 29 * *", PARIS, "2026-03-01T12:00", ["03-29 03:00+0200", "04-29 02:30+0200"]),
        ("30 2 25 10 *", PARIS, "2026-01-01T00:00", ["10-25 02:30+0200"]),
    ],
)
def test_fixed_time_schedules(expression: str, zone: ZoneInfo, after: str, expected: list[str]) -> None:
    assert ours(expression, zone, after, len(expected)) == expected


TRANSITIONS = [
    (PARIS, date(2026, 3, 29)),
    (PARIS, date(2026, 10, 25)),
    (NEW_YORK, date(2026, 3, 8)),
    (NEW_YORK, date(2026, 11, 1)),
]


@pytest.mark.parametrize(("zone", "night"), TRANSITIONS, ids=lambda v: str(v))
def test_a_daily_job_runs_exactly_once_every_local_day_at_any_time_of_day(
    zone: ZoneInfo, night: date
) -> None:
    days = [night + timedelta(days=offset) for offset in range(-2, 3)]
    begin = datetime.combine(days[0], time(0), zone).astimezone(UTC) - timedelta(microseconds=1)
    for hour in range(24):
        for minute in (0, 1, 30, 59):
            schedule = CronSchedule(f"{minute} {hour} * * *", zone.key)
            fires = schedule.next_fires(begin, len(days))
            assert [fire.astimezone(zone).date() for fire in fires] == days, (hour, minute)
            for fire, day in zip(fires, days, strict=True):
                wall = datetime.combine(day, time(hour, minute))
                first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
                if first.astimezone(zone).replace(tzinfo=None) == wall:
                    assert fire == first, (hour, minute, day)  # its (first) occurrence
                else:  # skipped: at the end of the gap, which is later that hour
                    assert fire.astimezone(zone).time() == time(3, 0), (hour, minute, day)


# --- schedules with a wildcard or stepped time of day: every real matching instant -----------------


@pytest.mark.parametrize(("zone", "night"), TRANSITIONS, ids=lambda v: str(v))
def test_every_fifteen_minutes_stays_every_fifteen_real_minutes(zone: ZoneInfo, night: date) -> None:
    begin = datetime.combine(night, time(0), zone).astimezone(UTC)
    fires = CronSchedule("*/15 * * * *", zone.key).next_fires(begin, 6 * 4)
    assert {later - earlier for earlier, later in itertools.pairwise(fires)} == {timedelta(minutes=15)}


def test_hourly_runs_in_both_copies_of_a_repeated_hour_and_never_in_a_skipped_one() -> None:
    def fires_on(day: date, zone: ZoneInfo) -> list[str]:
        begin = datetime.combine(day, time(0), zone).astimezone(UTC) - timedelta(microseconds=1)
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        found = [f for f in CronSchedule("0 * * * *", zone.key).next_fires(begin, 30) if f < end]
        return local(found, zone)

    spring = fires_on(date(2026, 3, 29), PARIS)
    assert len(spring) == 23 and spring[1:3] == ["03-29 01:00+0100", "03-29 03:00+0200"]
    autumn = fires_on(date(2026, 10, 25), PARIS)
    assert len(autumn) == 25 and autumn[2:4] == ["10-25 02:00+0200", "10-25 02:00+0100"]
    assert len(fires_on(date(2026, 3, 8), NEW_YORK)) == 23
    new_york_autumn = fires_on(date(2026, 11, 1), NEW_YORK)
    assert len(new_york_autumn) == 25 and new_york_autumn[1:3] == ["11-01 01:00-0400", "11-01 01:00-0500"]


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # an even hour that does not exist is not replaced by an odd one (APScheduler fires 03:00)
        ("0 */2 * * *", PARIS, "2026-03-28T22:30", ["03-29 00:00+0100", "03-29 04:00+0200"]),
        (
            "0 */2 * * *",
            PARIS,
            "2026-10-24T21:30",
            ["10-25 00:00+0200", "10-25 02:00+0200", "10-25 02:00+0100"],
        ),
        # a stepped minute within listed hours: both copies of 01:xx in New York, no 02:xx in spring
        (
            "*/30 1-2 * * *",
            NEW_YORK,
            "2026-11-01T04:00",
            [
                "11-01 01:00-0400",
                "11-01 01:30-0400",
                "11-01 01:00-0500",
                "11-01 01:30-0500",
                "11-01 02:00-0500",
            ],
        ),
        (
            "*/30 1-2 * * *",
            NEW_YORK,
            "2026-03-08T05:00",
            ["03-08 01:00-0500", "03-08 01:30-0500", "03-09 01:00-0400"],
        ),
        # every second across the jump: 01:59:59 CET is followed by 03:00:00 CEST
        ("* * * * * *", PARIS, "2026-03-29T00:59:58", ["03-29 01:59+0100", "03-29 03:00+0200"]),
    ],
)
def test_wildcard_schedules(expression: str, zone: ZoneInfo, after: str, expected: list[str]) -> None:
    assert ours(expression, zone, after, len(expected)) == expected


def test_every_second_through_a_repeated_hour_fires_every_real_second() -> None:
    schedule = CronSchedule("* * * * * *", "Europe/Paris")
    begin = utc("2026-10-25T00:59:55")  # 02:59:55 CEST: five seconds before the clocks go back
    fires = schedule.next_fires(begin, 10)
    assert fires == [begin + timedelta(seconds=n) for n in range(1, 11)]
    assert local(fires, PARIS)[3:5] == ["10-25 02:59+0200", "10-25 02:00+0100"]


# --- restarting at any moment gives the same fires --------------------------------------------------


@pytest.mark.parametrize(
    "expression", ["30 2 * * *", "0 1,2,3 * * *", "0 * * * *", "*/20 * * * *", "0 */2 * * *"]
)
@pytest.mark.parametrize(("zone", "night"), TRANSITIONS, ids=lambda v: str(v))
def test_next_after_depends_only_on_the_instant(expression: str, zone: ZoneInfo, night: date) -> None:
    """The scheduler asks `next_after(now)` after a restart and `next_after(previous fire)` otherwise:
    both must agree, or a restart in the middle of a DST night would add or lose fires."""
    schedule = CronSchedule(expression, zone.key)
    begin = datetime.combine(night - timedelta(days=1), time(12), zone).astimezone(UTC)
    fires = schedule.next_fires(begin, 40)
    assert fires == sorted(set(fires))
    for earlier, later in zip([begin, *fires], fires, strict=False):
        gap = later - earlier
        for fraction in (0.0, 0.25, 0.5, 0.99):
            probe = earlier + gap * fraction
            assert schedule.next_after(probe) == later, (probe, later)
        assert schedule.next_after(later - timedelta(microseconds=1)) == later


# --- through the engine, with the clock moved by hand -----------------------------------------------


class FinishedRuns:
    """Counts runs that finished (a bus listener), and lets a test wait for a count."""

    def __init__(self) -> None:
        self.count = 0
        self.unexpected: list[AnyEvent] = []
        self._changed = anyio.Event()

    def __call__(self, event: AnyEvent) -> None:
        if isinstance(event, RunFinished | RunSkipped):
            if isinstance(event, RunSkipped) or event.status != "succeeded":
                self.unexpected.append(event)
            self.count += 1
            self._changed.set()
            self._changed = anyio.Event()

    async def reach(self, count: int) -> None:
        while self.count < count:
            await self._changed.wait()
        assert not self.unexpected


async def drive(engine: Engine, clock: ManualClock, end: datetime) -> None:
    """Move the clock from fire to fire until `end`, letting each fire's runs finish. (Other
    sleepers, such as heartbeats, simply wake on the way.)"""
    finished = FinishedRuns()
    stop_listening = engine.bus.add_listener(finished)
    try:
        # Once this engine schedules (it may have to become the leader first), its first fire is the
        # clock's nearest deadline.
        await until(
            lambda: (
                bool(engine.scheduler_running and (fires := engine.next_fires()))
                and clock.next_deadline() == min(fires.values())
            )
        )
        expected = 0
        while True:
            fires = engine.next_fires()
            target = min(fires.values())
            if target > end:
                return
            expected += sum(1 for fire in fires.values() if fire == target)
            clock.set(target)
            with anyio.fail_after(10):
                await finished.reach(expected)
            await until(lambda: not engine.in_flight())  # the supervisor has let the runs go
    finally:
        stop_listening()


@pytest.mark.anyio
async def test_a_dst_night_through_the_engine(database_url: str, tmp_path: Path) -> None:
    install = make_install(tmp_path, database_url, 'timezone = "Europe/Paris"\n')
    step = [{"name": "s", "type": "python", "callable": "enginejobs.steps:add", "kwargs": {"a": 1, "b": 1}}]
    nights = [
        ("spring", "2026-03-28T22:00", "2026-03-29T03:00"),
        ("autumn", "2026-10-24T22:00", "2026-10-25T03:00"),
    ]
    fired: dict[str, dict[str, list[str]]] = {}
    for night, begin, end in nights:
        clock = ManualClock(utc(begin))
        async with Engine(quiet_install(install), clock=clock, scheduler=True) as engine:
            engine.define_job(name=f"daily-{night}", schedule="30 2 * * *", steps=step)
            engine.define_job(name=f"half-hourly-{night}", schedule="*/30 * * * *", steps=step)
            await drive(engine, clock, utc(end))
            fired[night] = {}
            for job in (f"daily-{night}", f"half-hourly-{night}"):
                page = await engine.store.list_runs(job=job)
                assert all(run.triggered_by == "cron" and run.status == "succeeded" for run in page.runs)
                scheduled = sorted(run.scheduled_for for run in page.runs if run.scheduled_for is not None)
                fired[night][job.rsplit("-", 1)[0]] = local(scheduled, PARIS)
    assert fired["spring"] == {
        "daily": ["03-29 03:00+0200"],  # 02:30 does not exist: once, as the clocks reach 03:00
        "half-hourly": [
            "03-28 23:30+0100",
            "03-29 00:00+0100",
            "03-29 00:30+0100",
            "03-29 01:00+0100",
            "03-29 01:30+0100",
            "03-29 03:00+0200",
            "03-29 03:30+0200",
            "03-29 04:00+0200",
            "03-29 04:30+0200",
            "03-29 05:00+0200",
        ],
    }
    assert fired["autumn"] == {
        "daily": ["10-25 02:30+0200"],  # once, the first time 02:30 comes round
        "half-hourly": [
            "10-25 00:30+0200",
            "10-25 01:00+0200",
            "10-25 01:30+0200",
            "10-25 02:00+0200",
            "10-25 02:30+0200",
            "10-25 02:00+0100",
            "10-25 02:30+0100",
            "10-25 03:00+0100",
            "10-25 03:30+0100",
            "10-25 04:00+0100",
        ],
    }
