"""Cron expressions with crontab's meaning, computed by APScheduler's `CronTrigger`.

Five fields (minute hour day-of-month month day-of-week), or six with seconds FIRST
(`*/10 * * * * *` is every ten seconds), or a macro (@hourly, @daily, @weekly, @monthly, @yearly).
Two crontab rules APScheduler 3 does not follow are restored here: day-of-week numbers count from
Sunday (0 and 7 both mean Sunday), and when both day-of-month and day-of-week are restricted a day
matching either one fires (crontab's OR), not only days matching both.

Daylight saving time follows Vixie cron (docs/operations.md, "Daylight saving time and time zones").
APScheduler only computes the wall-clock calendar (in a zone without DST); `next_after` maps each
matching wall-clock time to real instants itself, because APScheduler 3.11 runs a fixed-time job twice
on the fall-back night and moves, or sometimes drops, fires that fall in the spring-forward gap:

- a fixed-time schedule (no `*` or `/` in its second, minute and hour fields, e.g. `30 2 * * *`) fires
  once in a repeated hour, at the first occurrence, and a fire in the skipped hour happens once, at
  the instant the gap ends (02:30 on the spring-forward night fires at 03:00 new time);
- any other schedule (`0 * * * *`, `*/15 * * * *`, `0 */2 * * *`) fires at every real instant whose
  local time matches: in both copies of a repeated hour, never in the skipped one.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


class CronError(ValueError):
    """The expression is not a valid cron schedule; the message says which part and why."""


def _day_number(token: str, expression: str) -> int:
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise CronError(f"invalid cron '{expression}': day of week {number} is out of range 0-7")
        return number % 7
    if token[:3] in _DAY_NAMES and len(token) == 3:
        return _DAY_NAMES.index(token[:3])
    raise CronError(f"invalid cron '{expression}': '{token}' is not a day of week (0-7 or sun..sat)")


def _day_of_week(field: str, expression: str) -> str:
    """Crontab's day-of-week field as the explicit day names APScheduler reads unambiguously."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DOW_ITEM.match(item)
        if not match:
            raise CronError(f"invalid cron '{expression}': cannot read day of week '{item}'")
        span, step = match.group("range"), int(match.group("step") or 1)
        if step < 1:
            raise CronError(f"invalid cron '{expression}': a step must be at least 1")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-")
            first, last = _day_number(low, expression), _day_number(high, expression)
            if high.isdigit() and int(high) == 7:
                last = 7  # "5-7" means Friday to Sunday
            if last < first:
                raise CronError(f"invalid cron '{expression}': day-of-week range '{span}' runs backwards")
        else:
            first = last = _day_number(span, expression)
            if match.group("step"):
                last = 6
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


_MICROSECOND = timedelta(microseconds=1)


def _is_fixed_time(*fields: str) -> bool:
    """Vixie cron's test: a schedule is "fixed-time" when its time-of-day fields name exact values
    (numbers, lists, ranges) rather than a wildcard or a step."""
    return not any("*" in field or "/" in field for field in fields)


# Bounded, for a process that builds ever new schedules: past this many distinct sets of fields, the
# least recently used triggers are built again when next needed.
_TRIGGER_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=_TRIGGER_CACHE_SIZE)
def _wall_clock_triggers(
    second: str, minute: str, hour: str, day: str, month: str, names: str
) -> tuple[CronTrigger, ...]:
    """The APScheduler triggers matching these fields' wall-clock times, shared by every schedule
    with the same fields whatever its zone: building one costs ~0.15 ms (eight fields, each compiled
    from text), which 10,000 jobs on a few dozen distinct expressions would otherwise pay 10,000
    times. Sharing is safe: a `CronTrigger` is never changed after it is built, and
    `get_next_fire_time` only reads it. A ValueError (a bad field) is raised, never cached.

    The triggers run in UTC, a zone without DST, on naive local times relabelled as UTC; real
    instants are worked out by `CronSchedule.next_after`."""
    if day not in ("*", "?") and names != "*":
        # crontab: a restricted day-of-month OR a restricted day-of-week
        return (
            CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, timezone=UTC),
            CronTrigger(
                second=second, minute=minute, hour=hour, month=month, day_of_week=names, timezone=UTC
            ),
        )
    return (
        CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day="*" if day == "?" else day,
            month=month,
            day_of_week=names,
            timezone=UTC,
        ),
    )


class CronSchedule:
    """When a job fires. `next_after(t)` is the first fire strictly after `t`, as a UTC datetime."""

    def __init__(self, expression: str, timezone: str) -> None:
        self.expression = expression
        self.timezone = timezone
        text = _MACROS.get(expression.strip().lower(), expression.strip())
        fields = text.split()
        if len(fields) == 5:
            second, (minute, hour, day, month, dow) = "0", fields
        elif len(fields) == 6:
            second, minute, hour, day, month, dow = fields
        else:
            raise CronError(
                f"invalid cron '{expression}': expected 5 fields (minute hour day month weekday) "
                f"or 6 with seconds first, got {len(fields)}"
            )
        self._zone = ZoneInfo(timezone)
        self.fixed_time = _is_fixed_time(second, minute, hour)
        names = _day_of_week(dow, expression)
        try:
            self._triggers = _wall_clock_triggers(second, minute, hour, day, month, names)
        except ValueError as exc:
            raise CronError(f"invalid cron '{expression}': {exc}") from exc

    def next_after(self, after: datetime) -> datetime | None:
        start = after.astimezone(UTC) + _MICROSECOND
        fire = self._first_fire_from(start)
        if not self.fixed_time:
            # Inside the first copy of a repeated hour, earlier wall-clock times come round again
            # once the clocks go back: the second copy may hold the next fire.
            repeat = self._repeat_starts(start)
            if repeat is not None:
                again = self._first_fire_from(repeat)
                if again is not None and (fire is None or again < fire):
                    fire = again
        return fire

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        fires: list[datetime] = []
        cursor = after
        while len(fires) < count:
            fire = self.next_after(cursor)
            if fire is None:
                break
            fires.append(fire)
            cursor = fire
        return fires

    # --- wall-clock times to instants ---

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self._zone).replace(tzinfo=None)

    def _next_wall(self, wall: datetime) -> datetime | None:
        """The first matching wall-clock time at or after `wall` (both naive local times)."""
        relabelled = wall.replace(tzinfo=UTC)
        fires = [t.get_next_fire_time(None, relabelled) for t in self._triggers]
        found = [fire for fire in fires if fire is not None]
        return min(found).replace(tzinfo=None) if found else None

    def _first_fire_from(self, start: datetime) -> datetime | None:
        """The first fire at or after the instant `start`, among matching wall times from start's."""
        wall = self._wall(start)
        if self.fixed_time:
            just_before = (start - _MICROSECOND).astimezone(self._zone).utcoffset()
            if just_before is not None and just_before < (
                start.astimezone(self._zone).utcoffset() or just_before
            ):
                # `start` is the very instant a gap ends: the gap's fires are due now.
                wall = (start + just_before).replace(tzinfo=None)
        while True:
            found = self._next_wall(wall)
            if found is None:
                return None
            earlier = found.replace(tzinfo=self._zone, fold=0).astimezone(UTC)
            later = found.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
            if earlier == later:  # an ordinary wall-clock time: one instant
                if earlier >= start:
                    return earlier
            elif self._wall(earlier) == found:  # a repeated time: `earlier`, then `later` an hour on
                for instant in (earlier,) if self.fixed_time else (earlier, later):
                    if instant >= start:
                        return instant
            else:
                # A time the clocks skipped. PEP 495: fold=1 reads it with the offset after the
                # jump (an instant before it), fold=0 with the offset before (an instant after).
                gap_end = self._transition(later, earlier)
                if self.fixed_time:
                    if gap_end >= start:
                        return gap_end
                else:
                    wall = self._wall(gap_end)  # nothing matches inside the gap: skip it whole
                    continue
            wall = found + _MICROSECOND

    def _repeat_starts(self, start: datetime) -> datetime | None:
        """If `start` lies in the first copy of a repeated hour, the instant the second copy begins."""
        again = self._wall(start).replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        return self._transition(start, again) if again > start else None

    def _transition(self, before: datetime, after: datetime) -> datetime:
        """The instant the UTC offset changes between `before` and `after` (a few hours apart at
        most, one change between them). Offsets change on whole seconds."""
        zone = self._zone
        offset = before.astimezone(zone).utcoffset()
        low, high = int(before.timestamp()), -int(-after.timestamp() // 1)
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
                low = middle
            else:
                high = middle
        return datetime.fromtimestamp(high, UTC)
