"""Values the job store cannot hold: NUL characters (PostgreSQL's text and jsonb refuse them), lone
surrogates (not Unicode at all: they cannot be encoded as UTF-8, so no database, JSON answer or log line
can carry them) and numbers that are not finite (JSON has no nan or inf). Found at the boundary, where
the value comes in, so the caller is told which one and where."""

from __future__ import annotations

import math
from typing import Any

_SURROGATES = range(0xD800, 0xE000)


def _fault(text: str) -> str | None:
    """What in `text` cannot be stored, in words, or None."""
    if "\x00" in text:
        return "a NUL character (\\x00)"
    if text.isascii():  # the usual case, decided without looking at each character
        return None
    for char in text:
        if ord(char) in _SURROGATES:
            return f"a lone surrogate (\\u{ord(char):04x}), which is not valid Unicode"
    return None


def escaped(text: str) -> str:
    """`text` safe to show in a message: NUL and lone surrogates written as escapes."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first unstorable value in `value` (strings, keys, floats, nested lists and dicts, walked without
    recursion) as (what, where): ("a NUL character (\\x00)", "rows[2].name"), where `where` starts
    with `path` and is `path` itself when `value` is the faulty string. None if there is none."""
    kind = type(value)
    if kind is int or kind is bool or value is None:  # the usual params, decided at once
        return None
    if kind is str:
        fault = _fault(value)
        return None if fault is None else (fault, path)
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            fault = _fault(item)
            if fault is not None:
                return fault, where
        elif isinstance(item, float) and not math.isfinite(item):
            return f"a number that is not finite ({item!r})", where
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and (fault := _fault(key)) is not None:
                    return fault, f"the key '{escaped(key)}'" + (f" of {where}" if where else "")
            # Reversed onto the stack, so the first faulty value in reading order is the one named.
            pending.extend((item[key], f"{where}.{key}" if where else str(key)) for key in reversed(item))
        elif isinstance(item, list | tuple):
            pending.extend((item[index], f"{where}[{index}]") for index in reversed(range(len(item))))
    return None
