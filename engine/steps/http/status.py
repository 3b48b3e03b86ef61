"""What an http step makes of status codes: the `expected_status` ranges it accepts, and how long a
Retry-After asks it to wait."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime

_STATUS_RANGE = re.compile(r"^([1-5])xx$|^(\d{3})\s*-\s*(\d{3})$|^(\d{3})$", re.IGNORECASE)


def parse_expected_status(value: int | str | list[int | str]) -> list[tuple[int, int]]:
    """Inclusive (low, high) ranges from 200, "2xx", "200-204" or a list of them; raise ValueError."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("expected at least one status code or range")
    ranges: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        where = f"[{index}] " if isinstance(value, list) else ""
        low, high = _status_range(item, where)
        if not (100 <= low <= 599 and 100 <= high <= 599):
            raise ValueError(f"{where}{item!r} is outside 100-599")
        if low > high:
            raise ValueError(f"{where}'{item}' is an empty range")
        ranges.append((low, high))
    return ranges


def _status_range(item: object, where: str) -> tuple[int, int]:
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise ValueError(f"{where}expected a status code such as 200, or a range such as '2xx' or '200-204'")
    if isinstance(item, int):
        return item, item
    match = _STATUS_RANGE.match(item.strip())
    if match is None:
        raise ValueError(f"{where}'{item}' is not a status code or range (write 200, '2xx' or '200-204')")
    if match.group(1):
        hundreds = int(match.group(1)) * 100
        return hundreds, hundreds + 99
    if match.group(4):
        return int(match.group(4)), int(match.group(4))
    return int(match.group(2)), int(match.group(3))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
