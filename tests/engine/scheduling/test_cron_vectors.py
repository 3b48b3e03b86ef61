"""Cron vectors from other projects' published test suites and manuals, each row citing its source.

The expected instants are written as the sources state them, never computed with our code. Where a
source reads an expression differently from crontab(5) (cronie's implementation), the row follows
crontab and says in `differs` what the source expects and why we do not; daylight saving rows follow
Vixie cron (docs/operations.md) and say so where a source differs. Rows we cannot follow because we do
not support the syntax (Quartz's L, W and #, wrapped ranges) are in REFUSED, with the message a user
gets. Cost: about 0.2 s for the whole table.

Sources, at the commits read:

- croniter: github.com/kiorky/croniter d81350205c65, src/croniter/tests/test_croniter.py. croniter's
  six-field form puts the seconds LAST; the rows write them first, as we read them.
- robfig/cron: github.com/robfig/cron bc59245fe10e, spec_test.go. Its times without a zone are in
  time.Local; the rows take UTC (no transition near any of them). Its six-field form puts seconds
  first, like ours.
- APScheduler: github.com/agronholm/apscheduler branch 3.x 7e7bc5e32929, tests/triggers/test_cron.py.
  Its CronTrigger takes fields by name; a field left out below the most significant one given is 0,
  so `CronTrigger(day=30)` is `0 0 30 * *`.
- Cronos: github.com/HangfireIO/Cronos aeb3bff2048c, tests/Cronos.Tests/CronExpressionFacts.cs.
  Seconds first; times without a date are on its `Today`, 2016-12-09; "inclusive" means a fire at
  the start instant itself counts. Cronos matches day of month AND day of week when both are given.
- cronie: github.com/cronie-crond/cronie 5f9f16b5663b, man/crontab.5 (its examples state schedules in
  words; the rows pick a start and write those words as instants).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nomaflow.engine.scheduling.cron import CronError, CronSchedule

CRONITER = "croniter src/croniter/tests/test_croniter.py"
ROBFIG = "robfig/cron spec_test.go"
APSCHEDULER = "APScheduler 3.x tests/triggers/test_cron.py"
CRONOS = "Cronos tests/Cronos.Tests/CronExpressionFacts.cs"
CRONOS_NEXT = f"{CRONOS} GetNextOccurrence_ReturnsCorrectDate"
CRONIE = "cronie man/crontab.5"
NEW_YORK = "America/New_York"


@dataclass(frozen=True)
class Fires:
    """The first fires strictly after `after` (or at it, when `inclusive`)."""

    source: str
    expression: str
    after: str  # ISO; without an offset, a wall-clock time in `zone`
    fires: tuple[str, ...]  # ISO, with an offset: an exact instant; without, a wall-clock time in `zone`
    zone: str = "UTC"
    inclusive: bool = False
    form: str = ""  # compare `fires` with strftime(form) when the source states only part of each fire
    differs: str = ""  # what the source expects instead, and why this row follows crontab / Vixie cron


@dataclass(frozen=True)
class FiresAt:
    """Whether the schedule fires at the instant `at` (robfig/cron's TestActivation)."""

    source: str
    expression: str
    at: str
    fires: bool
    differs: str = ""


@dataclass(frozen=True)
class Refused:
    source: str
    expression: str
    message: str
    differs: str = ""


FIRES = [
    # --- croniter ---------------------------------------------------------------------------------
    Fires(
        f"{CRONITER} testSecondSec",
        "15,25 * * * * *",
        "2012-04-06T13:26:10",
        ("2012-04-06T13:26:15", "2012-04-06T13:26:25", "2012-04-06T13:27:15"),
    ),
    Fires(
        f"{CRONITER} testSecondRepeat",
        "*/15 * * * * *",
        "2012-04-06T13:26:36",
        ("2012-04-06T13:26:45", "2012-04-06T13:27:00", "2012-04-06T13:27:15"),
    ),
    Fires(
        f"{CRONITER} testDay",
        "0 0 */3 * *",
        "2010-02-24T12:09",
        ("2010-02-25T00:00", "2010-02-28T00:00", "2010-03-01T00:00"),
    ),
    Fires(
        f"{CRONITER} testDay (leap year 1996)",
        "0 0 * * *",
        "1996-02-27T00:00",
        ("1996-02-28T00:00", "1996-02-29T00:00"),
    ),
    Fires(
        f"{CRONITER} testDay (leap year 2000)",
        "0 0 * * *",
        "2000-02-27T00:00",
        ("2000-02-28T00:00", "2000-02-29T00:00"),
    ),
    Fires(
        f"{CRONITER} testWeekDay", "0 0 * * sat", "2010-02-25T00:00", ("2010-02-27T00:00", "2010-03-06T00:00")
    ),
    Fires(
        f"{CRONITER} testWeekDay (day of month OR day of week)",
        "0 0 1 * wed",
        "2010-01-25T00:00",
        ("2010-01-27T00:00", "2010-02-01T00:00", "2010-02-03T00:00"),
    ),
    Fires(
        f"{CRONITER} testDomDowVixieCronBug (implement_cron_bug=True)",
        "0 16 */2 * sat",
        "2023-05-02T00:00",
        ("2023-05-13T16:00", "2023-05-27T16:00", "2023-06-03T16:00", "2023-06-17T16:00"),
        differs="croniter by default reads */2 as restricted and fires on the union (May 3, 5, 6, 7...); "
        "with implement_cron_bug=True it does what crontab does, the rows here",
    ),
    Fires(f"{CRONITER} testMonth", "0 0 1 * *", "2010-01-25T00:00", ("2010-02-01T00:00", "2010-03-01T00:00")),
    Fires(
        f"{CRONITER} testSundayToThursdayWithAlphaConversion",
        "30 22 * * sun-thu",
        "2010-08-25T15:56",
        ("2010-08-25T22:30",),
    ),
    Fires(
        f"{CRONITER} testBug2",
        "0 * * 3 *",
        "2012-01-01T00:00",
        ("2012-03-01T00:00", "2012-03-01T01:00", "2012-03-01T02:00"),
    ),
    Fires(
        f"{CRONITER} testBug3",
        "00 03 16,30 * *",
        "2013-03-01T12:17:34.257877",
        ("2013-03-16T03:00", "2013-03-30T03:00", "2013-04-16T03:00"),
    ),
    Fires(
        f"{CRONITER} testBug57 (4/6: from 4 to the end, every 6)",
        "0 4/6 * * *",
        "2012-02-24T00:00",
        ("2012-02-24T04:00",),
    ),
    Fires(f"{CRONITER} testBug57", "0 0/6 * * *", "2012-02-24T00:00", ("2012-02-24T06:00",)),
    Fires(f"{CRONITER} test_multiple_months", "0 0 1 3,6,9,12 *", "2016-03-01T00:00", ("2016-06-01T00:00",)),
    Fires(f"{CRONITER} test_multiple_months", "0 0 1 3,6,9,12 *", "2016-02-15T00:00", ("2016-03-01T00:00",)),
    Fires(f"{CRONITER} test_multiple_months", "0 0 1 3,6,9,12 *", "2016-12-03T10:00", ("2017-03-01T00:00",)),
    Fires(f"{CRONITER} test_milliseconds", "0 10 * * *", "2018-01-02T10:00:00.000500", ("2018-01-03T10:00",)),
    Fires(f"{CRONITER} test_milliseconds", "0 10 * * *", "2018-01-02T09:59:59.999999", ("2018-01-02T10:00",)),
    # test_sunday_ranges_to / _from: 30 fires from Monday 2024-01-01, as days of the month
    Fires(
        f"{CRONITER} test_sunday_ranges_to",
        "0 0 * * Mon-Sun",
        "2024-01-01T00:00",
        tuple(str(day) for day in [*range(2, 32)]),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to",
        "0 0 * * Tue-Sun",
        "2024-01-01T00:00",
        tuple(
            str(day)
            for day in [
                2,
                3,
                4,
                5,
                6,
                7,
                9,
                10,
                11,
                12,
                13,
                14,
                16,
                17,
                18,
                19,
                20,
                21,
                23,
                24,
                25,
                26,
                27,
                28,
                30,
                31,
                1,
                2,
                3,
                4,
            ]
        ),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to",
        "0 0 * * Wed-Sun",
        "2024-01-01T00:00",
        tuple(
            str(day)
            for day in [
                3,
                4,
                5,
                6,
                7,
                10,
                11,
                12,
                13,
                14,
                17,
                18,
                19,
                20,
                21,
                24,
                25,
                26,
                27,
                28,
                31,
                1,
                2,
                3,
                4,
                7,
                8,
                9,
                10,
                11,
            ]
        ),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to",
        "0 0 * * Fri-Sun",
        "2024-01-01T00:00",
        tuple(
            str(day)
            for day in [
                5,
                6,
                7,
                12,
                13,
                14,
                19,
                20,
                21,
                26,
                27,
                28,
                2,
                3,
                4,
                9,
                10,
                11,
                16,
                17,
                18,
                23,
                24,
                25,
                1,
                2,
                3,
                8,
                9,
                10,
            ]
        ),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to",
        "0 0 * * Sat-Sun",
        "2024-01-01T00:00",
        tuple(
            str(day)
            for day in [
                6,
                7,
                13,
                14,
                20,
                21,
                27,
                28,
                3,
                4,
                10,
                11,
                17,
                18,
                24,
                25,
                2,
                3,
                9,
                10,
                16,
                17,
                23,
                24,
                30,
                31,
                6,
                7,
                13,
                14,
            ]
        ),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to (gen_all_sunday_forms: sun as 7)",
        "0 0 * * sat-7",
        "2024-01-01T00:00",
        tuple(str(day) for day in [6, 7, 13, 14, 20, 21, 27, 28, 3, 4]),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to (gen_all_sunday_forms: sun as 0)",
        "0 0 * * sat-0",
        "2024-01-01T00:00",
        tuple(str(day) for day in [6, 7, 13, 14, 20, 21, 27, 28, 3, 4]),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_to",
        "0 0 * * Sun-Sun",
        "2024-01-01T00:00",
        tuple(str(day) for day in [7, 14, 21, 28, 4, 11, 18, 25, 3, 10]),
        form="%-d",
        differs="croniter reads a range from a day to itself as the whole week (every day from the 2nd); "
        "cronie reads sun-sun as 0-0, Sunday alone",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_from",
        "0 0 * * Sun-Mon",
        "2024-01-01T00:00",
        tuple(
            str(day)
            for day in [
                7,
                8,
                14,
                15,
                21,
                22,
                28,
                29,
                4,
                5,
                11,
                12,
                18,
                19,
                25,
                26,
                3,
                4,
                10,
                11,
                17,
                18,
                24,
                25,
                31,
                1,
                7,
                8,
                14,
                15,
            ]
        ),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_from",
        "0 0 * * Sun-Thu",
        "2024-01-01T00:00",
        tuple(
            str(day)
            for day in [
                2,
                3,
                4,
                7,
                8,
                9,
                10,
                11,
                14,
                15,
                16,
                17,
                18,
                21,
                22,
                23,
                24,
                25,
                28,
                29,
                30,
                31,
                1,
                4,
                5,
                6,
                7,
                8,
                11,
                12,
            ]
        ),
        form="%-d",
    ),
    Fires(
        f"{CRONITER} test_sunday_ranges_from",
        "0 0 * * Sun-Sat",
        "2024-01-01T00:00",
        tuple(str(day) for day in range(2, 32)),
        form="%-d",
    ),
    # test_mth_ranges_from: 16 fires from 2024-01-01, as "<year % 100> <month>"
    Fires(
        f"{CRONITER} test_mth_ranges_from",
        "0 0 1 Jan-Dec *",
        "2024-01-01T00:00",
        (
            "24 2",
            "24 3",
            "24 4",
            "24 5",
            "24 6",
            "24 7",
            "24 8",
            "24 9",
            "24 10",
            "24 11",
            "24 12",
            "25 1",
            "25 2",
            "25 3",
            "25 4",
            "25 5",
        ),
        form="%y %-m",
    ),
    Fires(
        f"{CRONITER} test_mth_ranges_from",
        "0 0 1 Jan-Aug/2 *",
        "2024-01-01T00:00",
        (
            "24 3",
            "24 5",
            "24 7",
            "25 1",
            "25 3",
            "25 5",
            "25 7",
            "26 1",
            "26 3",
            "26 5",
            "26 7",
            "27 1",
            "27 3",
            "27 5",
            "27 7",
            "28 1",
        ),
        form="%y %-m",
    ),
    Fires(
        f"{CRONITER} test_mth_ranges_from",
        "0 0 1 Jan-Aug/4 *",
        "2024-01-01T00:00",
        (
            "24 5",
            "25 1",
            "25 5",
            "26 1",
            "26 5",
            "27 1",
            "27 5",
            "28 1",
            "28 5",
            "29 1",
            "29 5",
            "30 1",
            "30 5",
            "31 1",
            "31 5",
            "32 1",
        ),
        form="%y %-m",
    ),
    # croniter's time zones and DST (pytz zones)
    Fires(
        f"{CRONITER} test_std_dst",
        "0 0 * * *",
        "2017-03-26T00:00",
        ("2017-03-27T00:00+02:00",),
        zone="Europe/Warsaw",
    ),
    Fires(
        f"{CRONITER} test_std_dst",
        "0 * * * *",
        "2017-03-26T01:00",
        ("2017-03-26T03:00+02:00",),
        zone="Europe/Warsaw",
    ),
    Fires(
        f"{CRONITER} test_std_dst",
        "0 0 * * *",
        "2017-10-29T00:00",
        ("2017-10-30T00:00+01:00",),
        zone="Europe/Warsaw",
    ),
    Fires(
        f"{CRONITER} test_std_dst",
        "0 * * * *",
        "2017-10-29T01:59+02:00",
        ("2017-10-29T02:00",),
        zone="Europe/Warsaw",
    ),
    Fires(
        f"{CRONITER} test_std_dst (pytz localize: the second 02:00)",
        "0 * * * *",
        "2017-10-29T02:00+01:00",
        (
            "2017-10-29T03:00+01:00",
            "2017-10-29T04:00+01:00",
            "2017-10-29T05:00+01:00",
            "2017-10-29T06:00+01:00",
        ),
        zone="Europe/Warsaw",
    ),
    Fires(
        f"{CRONITER} test_std_dst2",
        "0 0 * * *",
        "2018-02-17T21:00-02:00",
        ("2018-02-18T00:00-03:00",),
        zone="America/Sao_Paulo",
    ),
    Fires(
        f"{CRONITER} test_std_dst2",
        "0 0 * * *",
        "2018-02-17T22:05-02:00",
        ("2018-02-18T00:00-03:00",),
        zone="America/Sao_Paulo",
    ),
    Fires(
        f"{CRONITER} test_std_dst2 (pytz localize: the second 23:00)",
        "0 0 * * *",
        "2018-02-17T23:00-03:00",
        ("2018-02-18T00:00-03:00",),
        zone="America/Sao_Paulo",
    ),
    Fires(
        f"{CRONITER} test_std_dst2",
        "0 0 * * *",
        "2018-02-18T00:00-03:00",
        ("2018-02-19T00:00-03:00",),
        zone="America/Sao_Paulo",
    ),
    Fires(
        f"{CRONITER} test_std_dst3",
        "0 0 24 * *",
        "2020-04-15T00:00",
        ("2020-04-24T00:00+09:30",),
        zone="Australia/Adelaide",
    ),
    Fires(
        f"{CRONITER} testTimezoneWinterTime",
        "*/30 * * * *",
        "2013-10-27T02:00+03:00",
        (
            "2013-10-27T02:30+03:00",
            "2013-10-27T03:00+03:00",
            "2013-10-27T03:30+03:00",
            "2013-10-27T03:00+02:00",
            "2013-10-27T03:30+02:00",
            "2013-10-27T04:00+02:00",
            "2013-10-27T04:30+02:00",
        ),
        zone="Europe/Athens",
    ),
    Fires(
        f"{CRONITER} testTimezoneSummerTime",
        "*/30 * * * *",
        "2013-03-31T01:00+02:00",
        (
            "2013-03-31T01:30+02:00",
            "2013-03-31T02:00+02:00",
            "2013-03-31T02:30+02:00",
            "2013-03-31T04:00+03:00",
            "2013-03-31T04:30+03:00",
        ),
        zone="Europe/Athens",
    ),
    # datetime(..., tzinfo=<pytz zone>) carries the zone's local mean time, +00:09 for Paris
    Fires(
        f"{CRONITER} test_dst_issue90_st31ny",
        "1 2 * * *",
        "2020-03-29T01:59:55+00:09",
        ("2020-03-30T02:01:00+02:00",),
        zone="Europe/Paris",
    ),
    Fires(
        f"{CRONITER} test_dst_issue90_st31ny",
        "1 2 * * *",
        "2020-03-28T01:58:55+00:09",
        ("2020-03-29T03:00:00+02:00", "2020-03-30T02:01:00+02:00"),
        zone="Europe/Paris",
        differs="croniter moves 02:01, skipped by the clocks, to 03:01; Vixie cron (docs/operations.md) "
        "runs a skipped fixed-time fire once, the moment the gap ends: 03:00",
    ),
    Fires(
        f"{CRONITER} test_dst_iter (pytz local mean time, +02:20 for Hebron)",
        "0 0 * * *",
        "2022-03-26T00:00:00+02:20",
        ("2022-03-26T00:00+02:00", "2022-03-27T01:00+03:00", "2022-03-28T00:00+03:00"),
        zone="Asia/Hebron",
    ),
    # --- robfig/cron TestNext (seconds first) -------------------------------------------------------
    Fires(f"{ROBFIG} TestNext", "0 0/15 * * * *", "2012-07-09T14:45", ("2012-07-09T15:00",)),
    Fires(f"{ROBFIG} TestNext", "0 0/15 * * * *", "2012-07-09T14:59", ("2012-07-09T15:00",)),
    Fires(f"{ROBFIG} TestNext", "0 0/15 * * * *", "2012-07-09T14:59:59", ("2012-07-09T15:00",)),
    Fires(
        f"{ROBFIG} TestNext (wrap around hours)",
        "0 20-35/15 * * * *",
        "2012-07-09T15:45",
        ("2012-07-09T16:20",),
    ),
    Fires(
        f"{ROBFIG} TestNext (wrap around days)", "0 */15 * * * *", "2012-07-09T23:46", ("2012-07-10T00:00",)
    ),
    Fires(f"{ROBFIG} TestNext", "0 20-35/15 * * * *", "2012-07-09T23:45", ("2012-07-10T00:20",)),
    Fires(f"{ROBFIG} TestNext", "15/35 20-35/15 * * * *", "2012-07-09T23:35:51", ("2012-07-10T00:20:15",)),
    Fires(f"{ROBFIG} TestNext", "15/35 20-35/15 1/2 * * *", "2012-07-09T23:35:51", ("2012-07-10T01:20:15",)),
    Fires(
        f"{ROBFIG} TestNext", "15/35 20-35/15 10-12 * * *", "2012-07-09T23:35:51", ("2012-07-10T10:20:15",)
    ),
    Fires(
        f"{ROBFIG} TestNext", "15/35 20-35/15 1/2 */2 * *", "2012-07-09T23:35:51", ("2012-07-11T01:20:15",)
    ),
    Fires(f"{ROBFIG} TestNext", "15/35 20-35/15 * 9-20 * *", "2012-07-09T23:35:51", ("2012-07-10T00:20:15",)),
    Fires(
        f"{ROBFIG} TestNext", "15/35 20-35/15 * 9-20 Jul *", "2012-07-09T23:35:51", ("2012-07-10T00:20:15",)
    ),
    Fires(
        f"{ROBFIG} TestNext (wrap around months)",
        "0 0 0 9 Apr-Oct ?",
        "2012-07-09T23:35",
        ("2012-08-09T00:00",),
    ),
    Fires(
        f"{ROBFIG} TestNext",
        "0 0 0 */5 Apr,Aug,Oct Mon",
        "2012-07-09T23:35",
        ("2012-08-06T00:00",),
        differs="robfig/cron reads */5 as restricted and fires on either day: Aug 1; in crontab a day field "
        "starting with * makes the days AND: the first Monday among the 1st, 6th, 11th... is Aug 6",
    ),
    Fires(f"{ROBFIG} TestNext", "0 0 0 */5 Oct Mon", "2012-07-09T23:35", ("2012-10-01T00:00",)),
    Fires(
        f"{ROBFIG} TestNext (wrap around years)", "0 0 0 * Feb Mon", "2012-07-09T23:35", ("2013-02-04T00:00",)
    ),
    Fires(
        f"{ROBFIG} TestNext (Mon/2: Monday to Saturday, every other day)",
        "0 0 0 * Feb Mon/2",
        "2012-07-09T23:35",
        ("2013-02-01T00:00",),
    ),
    Fires(f"{ROBFIG} TestNext", "0 * * * * *", "2012-12-31T23:59:45", ("2013-01-01T00:00:00",)),
    Fires(f"{ROBFIG} TestNext (leap year)", "0 0 0 29 Feb ?", "2012-07-09T23:35", ("2016-02-29T00:00",)),
    Fires(
        f"{ROBFIG} TestNext (DST 2am EST -> 3am EDT)",
        "0 30 2 11 Mar ?",
        "2012-03-11T00:00:00-05:00",
        ("2012-03-11T03:00:00-04:00",),
        zone=NEW_YORK,
        differs="robfig/cron skips 02:30, which the clocks skip, and fires on 2013-03-11T02:30-04:00; "
        "Vixie cron runs it once when the gap ends",
    ),
    Fires(
        f"{ROBFIG} TestNext (hourly job)",
        "0 0 * * * ?",
        "2012-03-11T00:00:00-05:00",
        (
            "2012-03-11T01:00:00-05:00",
            "2012-03-11T03:00:00-04:00",
            "2012-03-11T04:00:00-04:00",
            "2012-03-11T05:00:00-04:00",
        ),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext (1am nightly job)",
        "0 0 1 * * ?",
        "2012-03-11T00:00:00-05:00",
        ("2012-03-11T01:00:00-05:00", "2012-03-12T01:00:00-04:00"),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext (2am nightly job)",
        "0 0 2 * * ?",
        "2012-03-11T00:00:00-05:00",
        ("2012-03-11T03:00:00-04:00", "2012-03-12T02:00:00-04:00"),
        zone=NEW_YORK,
        differs="robfig/cron skips the night's 02:00 (next 2012-03-12T02:00-04:00); Vixie cron runs it "
        "once, when the gap ends",
    ),
    Fires(
        f"{ROBFIG} TestNext (DST 2am EDT -> 1am EST)",
        "0 30 2 04 Nov ?",
        "2012-11-04T00:00:00-04:00",
        ("2012-11-04T02:30:00-05:00",),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext",
        "0 30 1 04 Nov ?",
        "2012-11-04T01:45:00-04:00",
        ("2013-11-04T01:30:00-05:00",),
        zone=NEW_YORK,
        differs="robfig/cron runs 01:30 again in the repeated hour (2012-11-04T01:30-05:00); Vixie cron "
        "runs a fixed-time fire once, at the first 01:30",
    ),
    Fires(
        f"{ROBFIG} TestNext (hourly job)",
        "0 0 * * * ?",
        "2012-11-04T00:00:00-04:00",
        ("2012-11-04T01:00:00-04:00", "2012-11-04T01:00:00-05:00", "2012-11-04T02:00:00-05:00"),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext (1am nightly job)",
        "0 0 1 * * ?",
        "2012-11-04T00:00:00-04:00",
        ("2012-11-04T01:00:00-04:00", "2012-11-05T01:00:00-05:00"),
        zone=NEW_YORK,
        differs="robfig/cron runs it twice, also at 2012-11-04T01:00-05:00; Vixie cron once",
    ),
    Fires(
        f"{ROBFIG} TestNext (2am nightly job)",
        "0 0 2 * * ?",
        "2012-11-04T00:00:00-04:00",
        ("2012-11-04T02:00:00-05:00", "2012-11-05T02:00:00-05:00"),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext (3am nightly job)",
        "0 0 3 * * ?",
        "2012-11-04T00:00:00-04:00",
        ("2012-11-04T03:00:00-05:00", "2012-11-05T03:00:00-05:00"),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext (monthly job)",
        "0 0 3 3 * ?",
        "2012-11-04T00:00:00-04:00",
        ("2012-12-03T03:00:00-05:00",),
        zone=NEW_YORK,
    ),
    Fires(
        f"{ROBFIG} TestNext (issue 157: midnight skipped by DST)",
        "0 0 9 10 * ?",
        "2018-10-17T05:00:00-04:00",
        ("2018-11-10T06:00:00-05:00",),
        zone="America/Sao_Paulo",
    ),
    Fires(
        f"{ROBFIG} TestNext (issue 157)",
        "0 0 9 22 * ?",
        "2018-02-14T05:00:00-05:00",
        ("2018-02-22T07:00:00-05:00",),
        zone="America/Sao_Paulo",
    ),
    # TestNextWithTz: the schedule read in the start's own zone, a fixed +05:30 (Asia/Kolkata here)
    Fires(
        f"{ROBFIG} TestNextWithTz",
        "14 14 * * *",
        "2016-01-03T13:09:03+05:30",
        ("2016-01-03T14:14:00+05:30",),
        zone="Asia/Kolkata",
    ),
    Fires(
        f"{ROBFIG} TestNextWithTz",
        "14 14 * * ?",
        "2016-01-03T04:09:03+05:30",
        ("2016-01-03T14:14:00+05:30",),
        zone="Asia/Kolkata",
    ),
    Fires(
        f"{ROBFIG} TestNextWithTz",
        "14 14 * * *",
        "2016-01-03T14:09:03+05:30",
        ("2016-01-03T14:14:00+05:30",),
        zone="Asia/Kolkata",
    ),
    # --- APScheduler 3.x ----------------------------------------------------------------------------
    Fires(
        f"{APSCHEDULER} test_cron_extra_coverage (day='6,8')",
        "0 0 6,8 * *",
        "2009-12-31T00:00",
        ("2010-01-06T00:00",),
        zone="Europe/Berlin",
        inclusive=True,
    ),
    Fires(
        f"{APSCHEDULER} test_cron_increment_weekday (hour='5-6')",
        "0 5-6 * * *",
        "2009-09-25T07:00",
        ("2009-09-26T05:00",),
        zone="Europe/Berlin",
        inclusive=True,
    ),
    Fires(
        f"{APSCHEDULER} test_month_rollover (day=30)",
        "0 0 30 * *",
        "2016-02-01T00:00",
        ("2016-03-30T00:00",),
        zone="Europe/Berlin",
        inclusive=True,
    ),
    Fires(
        f"{APSCHEDULER} test_previous_fire_time_3 (day='*')",
        "0 0 * * *",
        "2016-04-25T00:00",
        ("2016-04-26T00:00",),
        zone="Europe/Berlin",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[absolute_spring] (hour=8)",
        "0 8 * * *",
        "2013-03-09T12:00",
        ("2013-03-10T08:00-04:00",),
        zone="US/Eastern",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[absolute_autumn] (hour=8)",
        "0 8 * * *",
        "2013-11-02T12:00",
        ("2013-11-03T08:00-05:00",),
        zone="US/Eastern",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[absolute_autumn_from_before_into_repeated_interval]",
        "30 1 * * *",
        "2013-11-03T00:30-04:00",
        ("2013-11-03T01:30-04:00",),
        zone="US/Eastern",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[absolute_autumn_from_repeated_into_repeated_interval]",
        "30 1 * * *",
        "2013-11-03T01:30:05-04:00",
        ("2013-11-04T01:30-05:00",),
        zone="US/Eastern",
        differs="APScheduler 3 runs 01:30 again in the repeated hour (01:30 fold=1, -05:00); Vixie cron "
        "runs a fixed-time fire once",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[absolute_autumn_from_repeated_interval_to_after]",
        "30 1 * * *",
        "2013-11-03T01:30:05-05:00",
        ("2013-11-04T01:30-05:00",),
        zone="US/Eastern",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[interval_spring] (minute='*/30')",
        "*/30 * * * *",
        "2013-03-10T01:35-05:00",
        ("2013-03-10T03:00-04:00",),
        zone="US/Eastern",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change[interval_autumn] (minute='*/30')",
        "*/30 * * * *",
        "2013-11-03T01:35-04:00",
        ("2013-11-03T01:00-05:00",),
        zone="US/Eastern",
    ),
    Fires(
        f"{APSCHEDULER} test_dst_change_2 (minute=30)",
        "30 * * * *",
        "2017-10-29T03:30:00.000005+02:00",
        ("2017-10-29T04:30+02:00",),
        zone="Europe/Helsinki",
    ),
    Fires(
        f"{APSCHEDULER} test_invalid_ranges[too_large_step_all]",
        "0 0 */31 * *",
        "2026-11-28T12:00",
        ("2026-12-01T00:00", "2027-01-01T00:00"),
        differs="APScheduler refuses day='*/31' (a step larger than the range); crontab accepts it as "
        "the first value alone (cronie only warns)",
    ),
    Fires(
        f"{APSCHEDULER} test_invalid_ranges[too_large_step_range]",
        "0 0 4-6/3 * *",
        "2026-11-28T12:00",
        ("2026-12-04T00:00", "2027-01-04T00:00"),
        differs="APScheduler refuses day='4-6/3'; crontab reads it as 4",
    ),
    # --- Cronos (seconds first, America/New_York) --------------------------------------------------
    Fires(
        CRONOS_NEXT, "20 * * * * *", "2016-12-09T17:35:00", ("2016-12-09T17:35:20",), NEW_YORK, inclusive=True
    ),
    Fires(
        CRONOS_NEXT, "20 * * * * *", "2016-12-09T17:35:20", ("2016-12-09T17:35:20",), NEW_YORK, inclusive=True
    ),
    Fires(
        CRONOS_NEXT, "20 * * * * *", "2016-12-09T17:35:40", ("2016-12-09T17:36:20",), NEW_YORK, inclusive=True
    ),
    Fires(
        CRONOS_NEXT,
        "10-30 * * * * *",
        "2016-12-09T17:35:31",
        ("2016-12-09T17:36:10",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "*/20 * * * * *",
        "2016-12-09T17:35:25",
        ("2016-12-09T17:35:40",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "*/20 * * * * *",
        "2016-12-09T17:35:59",
        ("2016-12-09T17:36:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "10/5 * * * * *",
        "2016-12-09T17:35:12",
        ("2016-12-09T17:35:15",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "10/5 * * * * *",
        "2016-12-09T17:35:59",
        ("2016-12-09T17:36:10",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "5-8,19,20,35-41 * * * * *",
        "2016-12-09T17:35:42",
        ("2016-12-09T17:36:05",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(CRONOS_NEXT, "* 10/5 * * * *", "2016-12-09T15:59", ("2016-12-09T16:10",), NEW_YORK, inclusive=True),
    Fires(
        CRONOS_NEXT,
        "* 5-8,19,20,35-41 * * * *",
        "2016-12-09T15:42",
        ("2016-12-09T16:05",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(CRONOS_NEXT, "* * 4/5 * * *", "2016-12-09T05:00", ("2016-12-09T09:00",), NEW_YORK, inclusive=True),
    Fires(
        CRONOS_NEXT,
        "* * 3-5,10,11,13-17 * * *",
        "2016-12-09T06:10",
        ("2016-12-09T10:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(CRONOS_NEXT, "* * * */4 * *", "2016-12-02", ("2016-12-05T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * 16-23 * *", "2016-12-24", ("2017-01-16T00:00",), NEW_YORK, inclusive=True),
    Fires(
        CRONOS_NEXT,
        "* * * 5-8,19,20,28-29 * *",
        "2016-12-30",
        ("2017-01-05T00:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "* * * 5-8,19,20,29-30 * *",
        "2017-02-27",
        ("2017-03-05T00:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(CRONOS_NEXT, "* * * 30-31 * *", "2016-02-27", ("2016-03-30T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * 31 * *", "2017-04-27", ("2017-05-31T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * 11 *", "2016-12-02", ("2017-11-01T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * */4 *", "2016-02-09", ("2016-05-01T00:00",), NEW_YORK, inclusive=True),
    Fires(
        CRONOS_NEXT,
        "* * * * 2-4,JUN,7,SEP-nov *",
        "2016-05-20",
        ("2016-06-01T00:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "* * * * 2-4,JUN,7,SEP-nov *",
        "2016-08-15",
        ("2016-09-01T00:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "* * * * 2-4,JUN,7,SEP-nov *",
        "2016-12-01",
        ("2017-02-01T00:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(CRONOS_NEXT, "* * * * * 05", "2016-12-10", ("2016-12-16T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * * 3,5,7", "2016-12-10", ("2016-12-11T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * * 4-07", "2016-12-12", ("2016-12-15T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * * tue/2", "2016-12-11", ("2016-12-13T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * * FRI/3", "2016-12-03", ("2016-12-09T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * * thu-sat", "2016-12-04", ("2016-12-08T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * * * */5", "2016-12-12", ("2016-12-16T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * ? * thu-sun", "2016-12-09", ("2016-12-09T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "00 00 00 11 12 0", "2016-12-07", ("2016-12-11T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "00 00 00 11 12 7", "2016-12-09", ("2016-12-11T00:00",), NEW_YORK, inclusive=True),
    Fires(
        CRONOS_NEXT,
        "54 47 17 09 12 5",
        "2016-10-01T00:00:00",
        ("2016-12-02T17:47:54",),
        NEW_YORK,
        inclusive=True,
        differs="Cronos matches the 9th AND a Friday: 2016-12-09T17:47:54; crontab fires on either, and "
        "Friday December 2 comes first",
    ),
    Fires(
        CRONOS_NEXT,
        "50-56 40-50 15-20 5-10 11,12 5,6,7",
        "2016-12-11T21:50:56",
        ("2016-12-16T15:40:50",),
        NEW_YORK,
        inclusive=True,
        differs="Cronos matches days 5-10 AND Friday to Sunday: 2017-11-05T15:40:50; crontab fires on "
        "either, and Friday December 16 comes first",
    ),
    Fires(
        f"{CRONOS_NEXT} (Friday the thirteenth)",
        "00 05 18 13 01 05",
        "2016-01-01T00:00:00",
        ("2016-01-01T18:05:00", "2016-01-08T18:05:00", "2016-01-13T18:05:00"),
        NEW_YORK,
        inclusive=True,
        differs="Cronos fires on Friday January 13 only (2017-01-13T18:05); crontab on every Friday of "
        "January and on January 13",
    ),
    Fires(
        CRONOS_NEXT, "0 * * * * *", "2017-01-14T12:58:59", ("2017-01-14T12:59:00",), NEW_YORK, inclusive=True
    ),
    Fires(CRONOS_NEXT, "0 0 0 * * *", "2017-12-31T23:59", ("2018-01-01T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "0 0 0 1 * *", "2017-02-10T00:00", ("2017-03-01T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "0 0 0 30 * *", "2017-02-25T00:00", ("2017-03-30T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "0 0 0 31 * *", "2017-04-01T00:00", ("2017-05-31T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "0 0 0 29 2 *", "2016-03-10T00:00", ("2020-02-29T00:00",), NEW_YORK, inclusive=True),
    Fires(CRONOS_NEXT, "* * * ? 11 *", "2016-10-09", ("2016-11-01T00:00",), NEW_YORK, inclusive=True),
    Fires(
        CRONOS_NEXT,
        "0 57,20/20,30/20,32-34/2,58 * * * *",
        "2017-04-17T17:00",
        ("2017-04-17T17:20",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "0 57,20/20,30/20,32-34/2,58 * * * *",
        "2017-04-17T17:33",
        ("2017-04-17T17:34",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "0 57,20/20,30/20,32-34/2,58 * * * *",
        "2017-04-17T17:41",
        ("2017-04-17T17:50",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        CRONOS_NEXT,
        "0 57,20/20,30/20,32-34/2,58 * * * *",
        "2017-04-17T17:59",
        ("2017-04-17T18:20",),
        NEW_YORK,
        inclusive=True,
    ),
    # Cronos, daylight saving time: America/New_York skips 02:00-03:00 on 2016-03-13
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsForward_And_TimeZoneIsEst",
        "0 */30 * * * *",
        "2016-03-13T01:45-05:00",
        ("2016-03-13T03:00-04:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsForward_And_TimeZoneIsEst",
        "0 30 2 * * *",
        "2016-03-13T01:59-05:00",
        ("2016-03-13T03:00-04:00",),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsForward_And_TimeZoneIsEst",
        "0 0,30 2 * * *",
        "2016-03-12T02:30-05:00",
        ("2016-03-13T03:00-04:00",),
        NEW_YORK,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsForward_And_TimeZoneIsEst",
        "0 0,59 * * * *",
        "2016-03-13T01:59-05:00",
        ("2016-03-13T03:00-04:00",),
        NEW_YORK,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsForward_And_TimeZoneIsEst",
        "0 0 */2 * * *",
        "2016-03-13T01:59-05:00",
        ("2016-03-13T04:00-04:00",),
        NEW_YORK,
        inclusive=True,
        differs="Cronos runs the skipped 02:00 at 03:00; in Vixie cron an interval schedule (a * or / in "
        "its time fields) does not fire in the skipped hour, and 03:00 is not an even hour",
    ),
    # Australia/Lord_Howe moves its clocks by half an hour: 02:00-02:30 skipped on 2017-10-01
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockTurnForwardHalfHour",
        "0 */30 * * * *",
        "2017-10-01T01:45+10:30",
        ("2017-10-01T02:30+11:00",),
        "Australia/Lord_Howe",
        inclusive=True,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockTurnForwardHalfHour",
        "0 30 2 * * *",
        "2017-10-01T01:59+10:30",
        ("2017-10-01T02:30+11:00",),
        "Australia/Lord_Howe",
        inclusive=True,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockTurnForwardHalfHour",
        "0 0,30 2 * * *",
        "2017-10-01T01:59+10:30",
        ("2017-10-01T02:30+11:00",),
        "Australia/Lord_Howe",
        inclusive=True,
    ),
    # America/New_York repeats 01:00-02:00 on 2016-11-06
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "0 */30 * * * *",
        "2016-11-06T01:59-04:00",
        ("2016-11-06T01:00-05:00", "2016-11-06T01:30-05:00", "2016-11-06T02:00-05:00"),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "0 30 * * * *",
        "2016-11-06T01:30-04:00",
        ("2016-11-06T01:30-05:00",),
        NEW_YORK,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "0 0 1 * * *",
        "2016-11-06T01:00-04:00",
        ("2016-11-07T01:00-05:00",),
        NEW_YORK,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "0 0,30 1 * * *",
        "2016-11-06T01:30-04:00",
        ("2016-11-07T01:00-05:00",),
        NEW_YORK,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "*/30 0 1 * * *",
        "2016-11-06T01:00:31-04:00",
        ("2016-11-06T01:00:00-05:00", "2016-11-06T01:00:30-05:00"),
        NEW_YORK,
        inclusive=True,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "0 0 2 * * *",
        "2016-11-06T01:45-04:00",
        ("2016-11-06T02:00-05:00",),
        NEW_YORK,
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackward",
        "0 30 1-9 * * *",
        "2016-11-06T01:59-04:00",
        ("2016-11-06T02:30-05:00",),
        NEW_YORK,
        inclusive=True,
        differs="Cronos reads an hour range as an interval and runs 01:30 again (01:30-05:00); in Vixie "
        "cron a range is fixed-time (no * or /) and 01:30 runs once",
    ),
    Fires(
        f"{CRONOS} GetNextOccurrence_HandleDST_WhenTheClockJumpsBackwardAndFromIsAroundDST",
        "30 23 * * *",
        "2017-05-13T23:59:59.999999-03:00",
        ("2017-05-14T23:30:00-04:00",),
        "America/Santiago",
    ),  # .9999999 in .NET ticks
    # --- cronie's crontab(5) ------------------------------------------------------------------------
    Fires(
        f"{CRONIE} EXAMPLE CRON FILE (CRON_TZ=Japan): five minutes after midnight, every day",
        "5 0 * * *",
        "2026-11-28T12:00+09:00",
        ("2026-11-29T00:05+09:00", "2026-11-30T00:05+09:00"),
        "Japan",
    ),
    Fires(
        f"{CRONIE} EXAMPLE CRON FILE: 2:15pm on the first of every month",
        "15 14 1 * *",
        "2026-11-28T12:00",
        ("2026-12-01T14:15", "2027-01-01T14:15"),
        "Japan",
    ),
    Fires(
        f"{CRONIE} EXAMPLE CRON FILE: 10 pm on weekdays",
        "0 22 * * 1-5",
        "2026-11-27T23:00",
        (
            "2026-11-30T22:00",
            "2026-12-01T22:00",
            "2026-12-02T22:00",
            "2026-12-03T22:00",
            "2026-12-04T22:00",
            "2026-12-07T22:00",
        ),
        "Japan",
    ),
    Fires(
        f"{CRONIE} EXAMPLE CRON FILE: 23 minutes after midnight, 2am, 4am ..., everyday",
        "23 0-23/2 * * *",
        "2026-11-28T21:00",
        ("2026-11-28T22:23", "2026-11-29T00:23", "2026-11-29T02:23", "2026-11-29T04:23"),
        "Japan",
    ),
    Fires(
        f"{CRONIE} EXAMPLE CRON FILE: 5 after 4 every sunday",
        "5 4 * * sun",
        "2026-11-28T12:00",
        ("2026-11-29T04:05", "2026-12-06T04:05"),
        "Japan",
    ),
    Fires(
        f"{CRONIE} DESCRIPTION: 4:30 am on the 1st and 15th of each month, plus every Friday",
        "30 4 1,15 * 5",
        "2026-11-28T12:00",
        ("2026-12-01T04:30", "2026-12-04T04:30", "2026-12-11T04:30", "2026-12-15T04:30", "2026-12-18T04:30"),
    ),
    Fires(
        f"{CRONIE} NOTES: */35 runs at 0 and 35 minutes past",
        "*/35 * * * *",
        "2026-11-28T12:00",
        ("2026-11-28T12:35", "2026-11-28T13:00", "2026-11-28T13:35"),
    ),
    Fires(
        f"{CRONIE} DESCRIPTION: */23 in hours is the hour 0 and the hour 23",
        "0 */23 * * *",
        "2026-11-28T12:00",
        ("2026-11-28T23:00", "2026-11-29T00:00", "2026-11-29T23:00"),
    ),
    Fires(
        f"{CRONIE} DESCRIPTION: 0-23/2 is every other hour",
        "0 0-23/2 * * *",
        "2026-11-28T12:30",
        ("2026-11-28T14:00", "2026-11-28T16:00"),
    ),
]

FIRES_AT = [
    FiresAt(f"{ROBFIG} TestActivation (every fifteen minutes)", "0/15 * * * *", "2012-07-09T15:00", True),
    FiresAt(f"{ROBFIG} TestActivation", "0/15 * * * *", "2012-07-09T15:45", True),
    FiresAt(f"{ROBFIG} TestActivation", "0/15 * * * *", "2012-07-09T15:40", False),
    FiresAt(f"{ROBFIG} TestActivation (starting at 5 minutes)", "5/15 * * * *", "2012-07-09T15:05", True),
    FiresAt(f"{ROBFIG} TestActivation", "5/15 * * * *", "2012-07-09T15:20", True),
    FiresAt(f"{ROBFIG} TestActivation", "5/15 * * * *", "2012-07-09T15:50", True),
    FiresAt(f"{ROBFIG} TestActivation (named months)", "0/15 * * Jul *", "2012-07-15T15:00", True),
    FiresAt(f"{ROBFIG} TestActivation (named months)", "0/15 * * Jun *", "2012-07-15T15:00", False),
    FiresAt(f"{ROBFIG} TestActivation (everything set)", "30 08 ? Jul Sun", "2012-07-15T08:30", True),
    FiresAt(f"{ROBFIG} TestActivation", "30 08 15 Jul ?", "2012-07-15T08:30", True),
    FiresAt(f"{ROBFIG} TestActivation", "30 08 ? Jul Sun", "2012-07-16T08:30", False),
    FiresAt(f"{ROBFIG} TestActivation", "30 08 15 Jul ?", "2012-07-16T08:30", False),
    FiresAt(f"{ROBFIG} TestActivation (predefined schedules)", "@hourly", "2012-07-09T15:00", True),
    FiresAt(f"{ROBFIG} TestActivation", "@hourly", "2012-07-09T15:04", False),
    FiresAt(f"{ROBFIG} TestActivation", "@daily", "2012-07-09T15:00", False),
    FiresAt(f"{ROBFIG} TestActivation", "@daily", "2012-07-09T00:00", True),
    FiresAt(f"{ROBFIG} TestActivation", "@weekly", "2012-07-09T00:00", False),
    FiresAt(f"{ROBFIG} TestActivation", "@weekly", "2012-07-08T00:00", True),
    FiresAt(f"{ROBFIG} TestActivation", "@weekly", "2012-07-08T01:00", False),
    FiresAt(f"{ROBFIG} TestActivation", "@monthly", "2012-07-08T00:00", False),
    FiresAt(f"{ROBFIG} TestActivation", "@monthly", "2012-07-01T00:00", True),
    FiresAt(
        f"{ROBFIG} TestActivation (both restricted: either day)", "* * 1,15 * Sun", "2012-07-15T00:00", True
    ),
    FiresAt(f"{ROBFIG} TestActivation", "* * 1,15 * Sun", "2012-06-15T00:00", True),
    FiresAt(f"{ROBFIG} TestActivation", "* * 1,15 * Sun", "2012-08-01T00:00", True),
    FiresAt(
        f"{ROBFIG} TestActivation (verifies #70)",
        "* * */10 * Sun",
        "2012-07-15T00:00",
        False,
        differs="robfig/cron reads */10 as restricted and fires on Sunday the 15th; in crontab */10 starts "
        "with *, so a day must be both the 1st, 11th, 21st or 31st and a Sunday",
    ),
    FiresAt(
        f"{ROBFIG} TestActivation (one field a star: both must match)",
        "* * * * Mon",
        "2012-07-15T00:00",
        False,
    ),
    FiresAt(f"{ROBFIG} TestActivation", "* * 1,15 * *", "2012-07-09T00:00", False),
    FiresAt(f"{ROBFIG} TestActivation", "* * 1,15 * *", "2012-07-15T00:00", True),
    FiresAt(f"{ROBFIG} TestActivation", "* * */2 * Sun", "2012-07-15T00:00", True),
]

REFUSED = [
    Refused(
        f"{CRONITER} test_bug34",
        "* * 31 2 *",
        "it never fires: February has no day 31",
        differs="croniter accepts it and raises CroniterBadDateError when asked for a fire",
    ),
    Refused(
        f"{ROBFIG} TestNext (unsatisfiable)",
        "0 0 0 30 Feb ?",
        "it never fires: February has no day 30",
        differs="robfig/cron accepts it; Next returns the zero time",
    ),
    Refused(
        f"{ROBFIG} TestNext (unsatisfiable)",
        "0 0 0 31 Apr ?",
        "it never fires: April has no day 31",
        differs="robfig/cron accepts it; Next returns the zero time",
    ),
    Refused(
        f"{CRONOS} GetNextOccurrence_ReturnsNull_WhenCronExpressionIsUnreachableAndFromIsDateTime",
        "* * 30 2 *",
        "it never fires: February has no day 30",
        differs="Cronos accepts it and returns null",
    ),
    Refused(f"{ROBFIG} TestErrors", "xyz", "expected 5 fields"),
    Refused(f"{ROBFIG} TestErrors", "60 0 * * *", "minute 60 is out of range 0-59"),
    Refused(f"{ROBFIG} TestErrors", "0 60 * * *", "hour 60 is out of range 0-23"),
    Refused(f"{ROBFIG} TestErrors", "0 0 * * XYZ", "'XYZ' is not a day of week"),
    Refused(f"{ROBFIG} TestSlash0NoHang", "15/0 * * * *", "a step must be at least 1"),
    Refused(f"{CRONITER} testError", "* * * *", "expected 5 fields"),
    Refused(f"{CRONITER} testError", "-90 * * * *", "cannot read minute '-90'"),
    Refused(f"{CRONITER} testError", "a * * * *", "'a' is not a minute"),
    Refused(f"{CRONITER} testError", "* * * janu-jun *", "'janu' is not a month"),
    Refused(f"{CRONITER} testError", "0-10/error * * * *", "cannot read minute '0-10/error'"),
    Refused(f"{CRONITER} testError", "* * 5-100 * *", "day of month 100 is out of range 1-31"),
    Refused(f"{CRONITER} test_invalid_zerorepeat", "*/0 * * * *", "a step must be at least 1"),
    Refused(
        f"{APSCHEDULER} test_invalid_ranges[too_high_last]", "0 0-24 * * *", "hour 24 is out of range 0-23"
    ),
    Refused(
        f"{APSCHEDULER} test_invalid_ranges[too_low_first]", "0 0 0-3 * *", "day of month 0 is out of range"
    ),
    # ranges that wrap around: croniter and Cronos read them so, crontab(5) says "the first number must
    # be less than or equal to the second one" (cronie silently makes the field empty)
    Refused(
        f"{CRONITER} test_sunday_ranges_from",
        "0 0 * * Thu-Tue/2",
        "day of week range 'Thu-Tue' runs backwards",
        differs="croniter wraps around: Thursday, Saturday, Monday",
    ),
    Refused(
        f"{CRONITER} test_mth_ranges_from",
        "0 0 1 Nov-Mar *",
        "write 'Nov-Dec,Jan-Mar'",
        differs="croniter wraps around: November to March",
    ),
    Refused(f"{CRONITER} test_mth_ranges_from", "0 0 1 Apr-Mar/3 *", "month range 'Apr-Mar' runs backwards"),
    Refused(
        CRONOS_NEXT, "55-5 * * * * ?", "second range '55-5' runs backwards", differs="Cronos wraps around"
    ),
    Refused(
        CRONOS_NEXT, "* * 23-3/2 * * *", "hour range '23-3' runs backwards", differs="Cronos wraps around"
    ),
    Refused(
        CRONOS_NEXT,
        "* * * 20-5/5 * *",
        "day of month range '20-5' runs backwards",
        differs="Cronos wraps around",
    ),
    Refused(CRONOS_NEXT, "* * * * 12-2 *", "write '12,1-2'", differs="Cronos wraps around"),
    Refused(CRONOS_NEXT, "* * * ? * sat-tue", "write 'sat,sun-tue'", differs="Cronos wraps around"),
    # other schedulers' syntax we do not support
    Refused(f"{CRONITER} testLastDayOfMonth", "0 0 l * *", "day of month 'l': L and W"),
    Refused(f"{CRONITER} testNthWeekDay", "0 0 * * sat#1", "day of week 'sat#1': L and #"),
    Refused(f"{CRONITER} test_lwom_friday", "0 0 * * L5", "day of week 'L5': L and #"),
    Refused(f"{CRONITER} test_is_valid (hashed)", "H 0 * * *", "'H' (a hashed value) is not supported"),
    Refused(CRONOS_NEXT, "* * * L * *", "day of month 'L': L and W"),
    Refused(CRONOS_NEXT, "* * * L-2 * *", "day of month 'L-2': L and W"),
    Refused(CRONOS_NEXT, "* * * * * 5L", "day of week '5L': L and #"),
    Refused(CRONOS_NEXT, "* * * * * 5#3", "day of week '5#3': L and #"),
    Refused(CRONOS_NEXT, "* * * 1W * *", "day of month '1W': L and W"),
    Refused(CRONOS_NEXT, "* * * LW * *", "day of month 'LW': L and W"),
    Refused(
        CRONOS_NEXT, "? ? ? ? ? ?", "cannot read second '?'", differs="Cronos reads ? as * in every field"
    ),
    Refused(
        f"{APSCHEDULER} test_cron_trigger_4 (day='last')", "0 0 last 2 *", "'last' is APScheduler's syntax"
    ),
    Refused(f"{CRONIE} DESCRIPTION (random ranges)", "6~15 * * * *", "'~' (a random value) is not supported"),
]


def instant(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def row_id(row: Fires | FiresAt | Refused) -> str:
    return f"{row.source.split(' ', 1)[0]}:{row.expression}"


def test_the_table_is_large_and_every_row_names_its_source() -> None:
    rows: list[Fires | FiresAt | Refused] = [*FIRES, *FIRES_AT, *REFUSED]
    assert len(rows) >= 60
    projects = {"croniter", "robfig/cron", "APScheduler", "Cronos", "cronie"}
    assert {row.source.split(" ", 1)[0] for row in rows} == projects


@pytest.mark.parametrize("row", FIRES, ids=row_id)
def test_fires(row: Fires) -> None:
    zone = ZoneInfo(row.zone)
    start = instant(row.after, zone)
    if row.inclusive:
        start -= timedelta(microseconds=1)
    fires = CronSchedule(row.expression, row.zone).next_fires(start, len(row.fires))
    local = [fire.astimezone(zone) for fire in fires]
    if row.form:
        assert [moment.strftime(row.form) for moment in local] == list(row.fires)
        return
    expected = [datetime.fromisoformat(text) for text in row.fires]
    # An instant is shown with the offset the source wrote it with; a wall-clock time as it is.
    shown = [
        moment.astimezone(wanted.tzinfo).isoformat()
        if wanted.tzinfo is not None
        else moment.replace(tzinfo=None).isoformat()
        for moment, wanted in zip(local, expected, strict=False)
    ]
    assert shown == [wanted.isoformat() for wanted in expected]


@pytest.mark.parametrize("row", FIRES_AT, ids=row_id)
def test_fires_at(row: FiresAt) -> None:
    at = instant(row.at, ZoneInfo("UTC"))
    assert (CronSchedule(row.expression, "UTC").next_after(at - timedelta(seconds=1)) == at) is row.fires


@pytest.mark.parametrize("row", REFUSED, ids=row_id)
def test_refused(row: Refused) -> None:
    with pytest.raises(CronError) as raised:
        CronSchedule(row.expression, "UTC")
    assert str(raised.value).startswith(f"invalid cron '{row.expression}': ")
    assert row.message in str(raised.value)
