"""Cron expressions with crontab's meaning, computed by APScheduler's `CronTrigger`.

Five fields (minute hour day-of-month month day-of-week), or six with seconds FIRST
(`*/10 * * * * *` is every ten seconds), or a macro (@hourly, @daily, @weekly, @monthly, @yearly).
Two crontab rules APScheduler 3 does not follow are restored here: day-of-week numbers count from
Sunday (0 and 7 both mean Sunday), and when both day-of-month and day-of-week are restricted a day
matching either one fires (crontab's OR), not only days matching both.
"""

from __future__ import annotations

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
        zone = ZoneInfo(timezone)
        names = _day_of_week(dow, expression)
        try:
            if day not in ("*", "?") and names != "*":
                # crontab: a restricted day-of-month OR a restricted day-of-week
                self._triggers = [
                    CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, timezone=zone),
                    CronTrigger(
                        second=second, minute=minute, hour=hour, month=month, day_of_week=names, timezone=zone
                    ),
                ]
            else:
                self._triggers = [
                    CronTrigger(
                        second=second,
                        minute=minute,
                        hour=hour,
                        day="*" if day == "?" else day,
                        month=month,
                        day_of_week=names,
                        timezone=zone,
                    )
                ]
        except ValueError as exc:
            raise CronError(f"invalid cron '{expression}': {exc}") from exc

    def next_after(self, after: datetime) -> datetime | None:
        start = after + timedelta(microseconds=1)
        fires = [t.get_next_fire_time(None, start) for t in self._triggers]
        found = [fire for fire in fires if fire is not None]
        return min(found).astimezone(UTC) if found else None

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
