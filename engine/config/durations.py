"""Durations as operators write them in configuration: "90s", "15m", "26h", "7d", or a number of seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)?\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_DAYS = 3660  # ten years
MAX_SECONDS = MAX_DAYS * 86_400.0


class DurationError(ValueError):
    pass


def parse_duration(text: str | float) -> float:
    """Seconds in `text`; raise DurationError saying what is expected."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise DurationError(f"expected a duration like '90s', '15m', '26h' or '7d', got '{text}'")
        seconds = float(match.group("number")) * _SECONDS[match.group("unit") or "s"]
    # Written so that nan fails it too; past the maximum a timedelta (or a date) would overflow.
    if not 0 <= seconds <= MAX_SECONDS:
        raise DurationError(f"expected a duration between 0 and {MAX_DAYS} days, got {text!r}")
    return seconds
