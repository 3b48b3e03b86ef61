"""Durations as operators write them in configuration: "90s", "15m", "26h", "7d", or a number of seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)?\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(ValueError):
    pass


def parse_duration(text: str | float) -> float:
    """Seconds in `text`; raise DurationError saying what is expected."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise DurationError(f"expected a duration >= 0, got {text}")
        return float(text)
    match = _DURATION.match(str(text))
    if not match:
        raise DurationError(f"expected a duration like '90s', '15m', '26h' or '7d', got '{text}'")
    return float(match.group("number")) * _SECONDS[match.group("unit") or "s"]
