"""What a TOML file must be before its fields are read: nested no deeper than MAX_DEPTH, and holding no
text the job store cannot keep (a NUL written as "\u0000" would reach a step's stored input)."""

from __future__ import annotations

from typing import Any

from nomaflow.actors.jsonable import escaped
from nomaflow.engine.config.decode import Report, join

# Deeper nesting is refused with a problem; tomllib itself gives up at about 330 levels, and what reads
# the data afterwards (msgspec, the template scanner, JSON for stored params) recurses too.
MAX_DEPTH = 64
_SHOWN_LEVELS = 6  # a too-deep path is spelt out this far; the line number finds the rest


def deep_line(text: str) -> int | None:
    """The line where brackets first open more than MAX_DEPTH deep (strings and comments skipped): for
    a file tomllib itself could not parse that deep."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        quote: str | None = None
        escaping = False
        for char in line:
            if quote is not None:
                if escaping:
                    escaping = False
                elif char == "\\" and quote == '"':
                    escaping = True
                elif char == quote:
                    quote = None
            elif char in "\"'":
                quote = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return number
            elif char in "]}":
                depth = max(0, depth - 1)
    return None


def _deeper(path: str, key: str | int, short: bool) -> str:
    if not short:
        return join(path, key)
    return path if path.endswith("...") else f"{path}..."


def sound_shape(data: dict[str, Any], report: Report) -> bool:
    """Report the first value nested too deep and every string (or key) holding a NUL; walked without
    recursion. True when there was nothing to report."""
    sound = True
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            report(path, f"nested too deeply (at most {MAX_DEPTH} levels of arrays and tables)")
            return False
        short = depth >= _SHOWN_LEVELS
        if isinstance(value, str) and "\x00" in value:
            report(path, "contains a NUL character (\\x00), which the job store cannot hold")
            sound = False
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    report(path, f"the key '{escaped(key)}' contains a NUL character (\\x00)")
                    sound = False
                pending.append((item, _deeper(path, key, short), depth + 1))
        elif isinstance(value, list):
            pending.extend((item, _deeper(path, index, short), depth + 1) for index, item in enumerate(value))
    return sound
