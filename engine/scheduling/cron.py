"""Cron expressions with crontab's meaning, computed by APScheduler's `CronTrigger`.

Five fields (minute hour day-of-month month day-of-week), or six with seconds FIRST
(`*/10 * * * * *` is every ten seconds), or a macro (@hourly, @daily, @weekly, @monthly, @yearly).
The fields are read here, with the grammar of crontab(5) as cronie's entry.c implements it, and handed
to APScheduler as plain numbers: APScheduler 3 only does the calendar arithmetic. What crontab means
and APScheduler 3 does not:

- day-of-week numbers count from Sunday (0 and 7 both mean Sunday), and a day-of-week range ending in
  Sunday written as 0 or `sun` ends in 7 (`sat-sun`, `mon-sun`), as in cronie;
- day of month and day of week (cronie's DOM_STAR/DOW_STAR): a field is *restricted* when it does not
  start with `*`. When both are restricted a day matching either one fires (`0 0 1 * mon`: the 1st
  and every Monday); when either starts with `*`, even `*/1` or `*/2`, a day must match both
  (`0 0 13 * */1`: the 13th only; `0 16 */2 * sat`: Saturdays that fall on an odd day);
- a schedule that can never fire (`0 0 31 2 *`) is an error, not a job that silently never runs.

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
import itertools
import re
from dataclasses import dataclass
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
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# The longest each month can be: February has a 29th in leap years, so `0 0 29 2 *` does fire.
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class CronError(ValueError):
    """The expression is not a valid cron schedule; the message says which part and why."""


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a cheap cache key
class _FieldKind:
    name: str  # as messages say it: "minute", "day of week"
    low: int
    high: int  # the highest value one may write
    top: int  # the highest distinct value: 6 for the day of week, where 7 is Sunday again
    names: tuple[str, ...] = ()  # names for low, low + 1, ... (months, days of the week)


_SECOND = _FieldKind("second", 0, 59, 59)
_MINUTE = _FieldKind("minute", 0, 59, 59)
_HOUR = _FieldKind("hour", 0, 23, 23)
_DAY_OF_MONTH = _FieldKind("day of month", 1, 31, 31)
_MONTH = _FieldKind("month", 1, 12, 12, _MONTH_NAMES)
_DAY_OF_WEEK = _FieldKind("day of week", 0, 7, 6, _DAY_NAMES)


class _FieldError(ValueError):
    """A field is wrong; the expression it came from is added to the message by `_read`."""


# One item of a comma list: `*`, `*/step`, `value`, `value-value`, `value-value/step`, and `value/step`
# (from `value` to the field's end: not crontab's, but croniter, robfig/cron, Cronos and APScheduler
# all read it so, and `0/15` is a common way to write "every 15").
_ITEM = re.compile(
    r"^(?:(?P<star>\*)|(?P<first>[a-z0-9]+)(?:-(?P<last>[a-z0-9]+))?)(?:/(?P<step>[0-9]+))?$", re.I | re.ASCII
)

# Other schedulers' extensions, refused by name so a user knows what was read and why it is refused.
_QUARTZ_DAY_OF_MONTH = re.compile(r"^(?:l|lw|l-\d+w?|\d+w)$")
_QUARTZ_DAY_OF_WEEK = re.compile(r"^(?:[0-7]|[a-z]{3})(?:l|#\d+)$")


def _unsupported(item: str, kind: _FieldKind) -> str | None:
    """Why `item` is refused, when it is another scheduler's syntax that Nomaflow does not read."""
    if item == "last":
        return "'last' is APScheduler's syntax, not supported"
    if kind is _DAY_OF_MONTH and _QUARTZ_DAY_OF_MONTH.match(item):
        return "L and W (last day, nearest weekday of the month) are Quartz syntax, not supported"
    if kind is _DAY_OF_WEEK and (_QUARTZ_DAY_OF_WEEK.match(item) or item.startswith("l")):
        return "L and # (last or nth weekday of the month) are Quartz syntax, not supported"
    if "#" in item:
        return "# (nth weekday of the month) is Quartz syntax, not supported"
    if "~" in item:
        return "'~' (a random value) is not supported"
    if item.startswith("h"):
        return "'H' (a hashed value) is not supported"
    return None


def _value(written: str, kind: _FieldKind) -> int:
    token = written.lower()
    if token.isdigit():
        number = int(token)
        if not kind.low <= number <= kind.high:
            raise _FieldError(f"{kind.name} {number} is out of range {kind.low}-{kind.high}")
        return number
    if token in kind.names:
        return kind.low + kind.names.index(token)
    expected = f"{kind.low}-{kind.high}" + (f" or {kind.names[0]}..{kind.names[-1]}" if kind.names else "")
    article = "an" if kind is _HOUR else "a"
    raise _FieldError(f"'{written}' is not {article} {kind.name} ({expected})")


def _wrap_hint(first: str, last: str, kind: _FieldKind) -> str:
    """How to write a wrapped-around range as crontab reads it: '22-2' -> '22-23,0-2'."""
    if first.isdigit():
        top, bottom = str(kind.top), str(kind.low)
    else:  # names, in the case the user wrote the first one in: "Nov-Dec,Jan-Mar"
        case = str.upper if first.isupper() else str.title if first.istitle() else str.lower
        top, bottom = case(kind.names[kind.top - kind.low]), case(kind.names[0])
    start = _value(first, kind)
    if start > kind.top:  # day of week 7, Sunday: the range starts the week ("7-2" is "0-2")
        return f"{bottom}-{last}"
    return f"{first if start == kind.top else f'{first}-{top}'},{bottom}-{last}"


@functools.lru_cache(maxsize=1024)
def _field(text: str, kind: _FieldKind) -> tuple[frozenset[int], str]:
    """A field's values (day of week 7 read as 0) and the shortest text APScheduler reads them from.
    Cached: expressions share most of their fields ("*", "0"), and reading one costs ~5 µs."""
    values = _field_values(text, kind)
    return values, _day_names(values) if kind is _DAY_OF_WEEK else _numbers(values, kind)


def _field_values(text: str, kind: _FieldKind) -> frozenset[int]:
    """The values a crontab field names (day of week 7 read as 0), or a _FieldError saying why not."""
    values: set[int] = set()
    for written in text.split(","):
        item = written.lower()
        if item == "?" and kind in (_DAY_OF_MONTH, _DAY_OF_WEEK):
            item = "*"  # Quartz's "no specific value": as crontab's `*`
        if (why := _unsupported(item, kind)) is not None:
            raise _FieldError(f"{kind.name} '{written}': {why}")
        match = _ITEM.match("*" if item == "*" else written)
        if match is None:
            raise _FieldError(f"cannot read {kind.name} '{written}'")
        step = int(match.group("step") or 1)
        if step < 1:
            raise _FieldError(f"a step must be at least 1 ({kind.name} '{written}')")
        if match.group("star"):
            first, last = kind.low, kind.top
        else:
            first_token, last_token = match.group("first"), match.group("last")
            first = _value(first_token, kind)
            if last_token is not None:
                last = _value(last_token, kind)
                if kind is _DAY_OF_WEEK and last == 0 and first > 0:
                    last = 7  # cronie: a range ending in Sunday written as 0 ends in 7 ("sat-sun")
                if last < first:
                    hint = (
                        ""
                        if match.group("step")
                        else f": write '{_wrap_hint(first_token, last_token, kind)}'"
                    )
                    raise _FieldError(
                        f"{kind.name} range '{first_token}-{last_token}' runs backwards; "
                        f"crontab ranges do not wrap around{hint}"
                    )
            elif match.group("step"):
                last = kind.top
            else:
                last = first
        values.update(range(first, last + 1, step))
    if kind is _DAY_OF_WEEK:
        return frozenset(day % 7 for day in values)
    return frozenset(values)


def _numbers(values: frozenset[int], kind: _FieldKind) -> str:
    """`values` as the shortest APScheduler text: `*`, `first-last/step`, or a list of runs."""
    ordered = sorted(values)
    if len(ordered) == kind.top - kind.low + 1:
        return "*"
    if len(ordered) > 2:
        step = ordered[1] - ordered[0]
        if step > 1 and all(b - a == step for a, b in itertools.pairwise(ordered)):
            return f"{ordered[0]}-{ordered[-1]}/{step}"
    runs: list[str] = []
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ",".join(runs)


def _day_names(days: frozenset[int]) -> str:
    """Days of the week as the names APScheduler reads unambiguously (its numbers start on Monday, and
    so do its ranges): `mon-fri`, `mon,sat-sun`."""
    if len(days) == 7:
        return "*"
    monday_first = [*_DAY_NAMES[1:], _DAY_NAMES[0]]
    runs: list[list[str]] = []
    previous = -2
    for position, name in enumerate(monday_first):
        if (position + 1) % 7 in days:
            if position == previous + 1:
                runs[-1].append(name)
            else:
                runs.append([name])
            previous = position
    return ",".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _and_list(words: list[str], conjunction: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def _never_fires(days: frozenset[int], months: frozenset[int]) -> str | None:
    """Why no month of `months` has any day of `days`, or None when some has one."""
    if any(day <= _MONTH_DAYS[month - 1] for month in months for day in days):
        return None
    names = [_MONTHS[month - 1] for month in sorted(months)]
    numbers = [str(day) for day in sorted(days)]
    verb = "has" if len(names) == 1 else "have"
    return f"it never fires: {_and_list(names, 'and')} {verb} no day {_and_list(numbers, 'or')}"


_MICROSECOND = timedelta(microseconds=1)


def _is_fixed_time(*fields: str) -> bool:
    """Vixie cron's test: a schedule is "fixed-time" when its time-of-day fields name exact values
    (numbers, lists, ranges) rather than a wildcard or a step."""
    return not any("*" in field or "/" in field for field in fields)


@dataclass(frozen=True)
class _Fields:
    """An expression's fields as APScheduler reads them (plain numbers, day names), and how its two
    day fields combine. Equal for expressions that mean the same (`@daily`, `0 0 * * *`)."""

    second: str
    minute: str
    hour: str
    day: str | None  # None: no month of the schedule has any of its days of the month
    month: str
    day_of_week: str
    either_day: bool  # both day fields restricted: a day matching either one fires (crontab's OR)


@dataclass(frozen=True)
class _Reading:
    fields: _Fields
    fixed_time: bool


def _split(expression: str) -> list[str]:
    """The six fields, seconds first (0 for a five-field expression); macros written out."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in _MACROS:
            raise CronError(f"invalid cron '{expression}': unknown macro (known: {', '.join(_MACROS)})")
        text = _MACROS[text.lower()]
    fields = text.split()
    if len(fields) == 5:
        return ["0", *fields]
    if len(fields) == 6:
        return fields
    raise CronError(
        f"invalid cron '{expression}': expected 5 fields (minute hour day month weekday) "
        f"or 6 with seconds first, got {len(fields)}"
    )


# Bounded, for a process that builds ever new schedules: past this many distinct expressions (or sets
# of fields, below), the least recently used are read (or built) again when next needed.
_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _read(expression: str) -> _Reading:
    """Read once per distinct expression: 10,000 jobs share a few dozen. A CronError is never cached."""
    second_text, minute_text, hour_text, day, month, dow = _split(expression)
    try:  # in the order they are written, so the first mistake is the one reported
        (
            (_, second),
            (_, minute),
            (_, hour),
            (days, day_numbers),
            (months, month_numbers),
            (_, weekday_names),
        ) = (
            _field(text, kind)
            for text, kind in (
                (second_text, _SECOND),
                (minute_text, _MINUTE),
                (hour_text, _HOUR),
                (day, _DAY_OF_MONTH),
                (month, _MONTH),
                (dow, _DAY_OF_WEEK),
            )
        )
    except _FieldError as exc:
        raise CronError(f"invalid cron '{expression}': {exc}") from None
    # cronie's DOM_STAR / DOW_STAR: the field's first character, not the values it ends up naming.
    either_day = not day.startswith(("*", "?")) and not dow.startswith(("*", "?"))
    never = _never_fires(days, months)
    if never is not None and not either_day:
        raise CronError(f"invalid cron '{expression}': {never}")
    fields = _Fields(
        second=second,
        minute=minute,
        hour=hour,
        # Both restricted, but no month has the day (`0 0 31 2 mon`): only the weekdays fire.
        day=None if never is not None else day_numbers,
        month=month_numbers,
        day_of_week=weekday_names,
        either_day=either_day,
    )
    return _Reading(fields, _is_fixed_time(second_text, minute_text, hour_text))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _wall_clock_triggers(fields: _Fields) -> tuple[CronTrigger, ...]:
    """The APScheduler triggers matching these fields' wall-clock times, shared by every schedule
    with the same fields whatever its zone: building one costs ~0.15 ms (eight fields, each compiled
    from text), which 10,000 jobs on a few dozen distinct expressions would otherwise pay 10,000
    times. Sharing is safe: a `CronTrigger` is never changed after it is built, and
    `get_next_fire_time` only reads it.

    The triggers run in UTC, a zone without DST, on naive local times relabelled as UTC; real
    instants are worked out by `CronSchedule.next_after`."""
    times = {"second": fields.second, "minute": fields.minute, "hour": fields.hour, "month": fields.month}
    if not fields.either_day:
        # crontab: a day must match both fields (one of them, at least, starts with `*`)
        assert fields.day is not None  # such a schedule with no possible day was refused when read
        return (CronTrigger(**times, day=fields.day, day_of_week=fields.day_of_week, timezone=UTC),)
    # crontab: both fields restricted, a day matching either one fires
    triggers = [CronTrigger(**times, day_of_week=fields.day_of_week, timezone=UTC)]
    if fields.day is not None:
        triggers.append(CronTrigger(**times, day=fields.day, timezone=UTC))
    return tuple(triggers)


class CronSchedule:
    """When a job fires. `next_after(t)` is the first fire strictly after `t`, as a UTC datetime."""

    def __init__(self, expression: str, timezone: str) -> None:
        self.expression = expression
        self.timezone = timezone
        reading = _read(expression)
        self._zone = ZoneInfo(timezone)
        self.fixed_time = reading.fixed_time
        self._triggers = _wall_clock_triggers(reading.fields)

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
