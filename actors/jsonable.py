"""Step inputs and outputs as stored and streamed (JSON-able, storable, size-capped), and the one check
for values no job store can hold, which the engine also uses on params and request bodies.

A step's full output stays in memory for the next steps' templates; only what is persisted or sent to
subscribers is capped, so a 100 MB response never lands in the database or on a websocket.

Some text no job store can hold: PostgreSQL refuses NUL (U+0000) in text and JSON, and neither database
takes a lone surrogate (U+D800-DFFF, which is not UTF-8). A step's *output* holding either fails the
step, with the path of the value (`unstorable_part`): the output is data later steps and retries build
on, so it is never altered behind their back. Text that is only a record (a step's input as shown, log
lines, errors) is stored with each such character written out as `\\u0000` / `\\udXXX` instead
(`escape_unstorable`), so it is kept, visibly changed, rather than lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

SNAPSHOT_LIMIT_BYTES = 64 * 1024
_PREVIEW_CHARS = 2000
# How msgspec spells a NUL inside a JSON string: its presence in an encoding is the cheap first test.
_NUL_IN_JSON = b"\\u0000"


class NotJsonable(TypeError):
    pass


class Unstorable(ValueError):
    """A value holds text the job store cannot hold; the message names where (`output.rows[2].name`)."""


def to_jsonable(value: Any) -> Any:
    """The JSON-able form of `value` (dates become ISO strings, structs dicts); raise NotJsonable."""
    try:
        return msgspec.to_builtins(value, str_keys=True)
    except (TypeError, ValueError) as exc:
        raise NotJsonable(f"{type(value).__name__} is not JSON-able: {exc}") from exc


_SURROGATES = range(0xD800, 0xE000)


def _bad_char(text: str) -> str | None:
    """The first character of `text` no store can hold; None if there is none."""
    if "\x00" in text:
        return "\x00"
    if text.isascii():  # O(1) in CPython: the common case costs nothing more
        return None
    for char in text:
        if ord(char) in _SURROGATES:
            return char
    return None


class Fault(NamedTuple):
    """The first value in reading order that no job store can hold: a string or key holding a NUL or a
    lone surrogate (`char`), or a number that is not finite (`number`, only when asked for)."""

    where: str  # the path of the value (of the dict holding it, for a key)
    char: str | None = None
    number: float | None = None
    key: str | None = None  # the key holding `char`, when it is a key


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{msgspec.json.encode(escape_unstorable(key)).decode()}]"


def _dotted_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def find_unstorable(
    value: Any, path: str = "", *, numbers: bool = False, child: Callable[[str, Any], str] = _key_path
) -> Fault | None:
    """The first value in `value` (strings, keys, nested lists and dicts, walked without recursion) that
    no job store can hold, with its path from `path` (`child` spells each step of it); with `numbers`,
    a float that is not finite counts too (JSON has no nan or inf). None if there is none. The one
    check of the package: the actors use it on outputs, the engine on params and request bodies."""
    kind = type(value)
    if kind is int or kind is bool or value is None:  # the usual params, decided at once
        return None
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if (char := _bad_char(item)) is not None:
                return Fault(where, char=char)
        elif isinstance(item, float):
            if numbers and not math.isfinite(item):
                return Fault(where, number=item)
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and (char := _bad_char(key)) is not None:
                    return Fault(where, char=char, key=key)
            # Reversed onto the stack, so the first faulty value in reading order is the one named.
            pending.extend((item[key], child(where, key)) for key in reversed(item))
        elif isinstance(item, list | tuple):
            pending.extend((item[index], child(where, index)) for index in reversed(range(len(item))))
    return None


def _walk(value: Any, path: str) -> str | None:
    fault = find_unstorable(value, path)
    if fault is None or fault.char is None:
        return None
    what = (
        "a NUL character (\\u0000)"
        if fault.char == "\x00"
        else f"a lone surrogate (\\u{ord(fault.char):04x})"
    )
    if fault.key is not None:
        return f"a key of {fault.where or 'the value'} contains {what}"
    return f"{fault.where} contains {what}"


def escaped(text: str) -> str:
    """`text` safe to show in a message: NUL and lone surrogates written as escapes."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first value in `value` the store cannot hold, numbers that are not finite included, as
    (what, where) in the words of a configuration or request problem: ("a NUL character (\\x00)",
    "rows[2].name"), where `where` starts with `path` and is `path` itself when `value` is the faulty
    string. None if there is none."""
    fault = find_unstorable(value, path, numbers=True, child=_dotted_path)
    if fault is None:
        return None
    if fault.char is None:
        return f"a number that is not finite ({fault.number!r})", fault.where
    if fault.char == "\x00":
        what = "a NUL character (\\x00)"
    else:
        what = f"a lone surrogate (\\u{ord(fault.char):04x}), which is not valid Unicode"
    if fault.key is not None:
        return what, f"the key '{escaped(fault.key)}'" + (f" of {fault.where}" if fault.where else "")
    return what, fault.where


def unstorable_part(value: Any, path: str) -> str | None:
    """Where JSON-able `value` (called `path`) holds text no job store can hold, as a phrase naming the
    place and the character (`params.text contains a NUL character (\\u0000)`); None if nowhere."""
    try:
        encoded = msgspec.json.encode(value)
    except UnicodeEncodeError:
        return _walk(value, path) or f"{path} contains a lone surrogate"
    return _walk(value, path) if _NUL_IN_JSON in encoded else None


def _escape_text(text: str) -> str:
    if _bad_char(text) is None:
        return text
    return "".join(
        f"\\u{ord(char):04x}" if char == "\x00" or ord(char) in _SURROGATES else char for char in text
    )


def escape_unstorable(value: Any) -> Any:
    """`value` with every NUL and lone surrogate, in strings and keys, written out as `\\u0000` /
    `\\udXXX` (six visible characters). Other values are returned as they are."""
    if isinstance(value, str):
        return _escape_text(value)
    if isinstance(value, dict):
        return {
            (_escape_text(key) if isinstance(key, str) else key): escape_unstorable(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [escape_unstorable(item) for item in value]
    return value


def _storable_encoding(value: Any) -> tuple[Any, bytes]:
    """`value` (escaped if it must be) and its JSON encoding."""
    try:
        encoded = msgspec.json.encode(value)
    except UnicodeEncodeError:
        value = escape_unstorable(value)
        return value, msgspec.json.encode(value)
    if _NUL_IN_JSON in encoded and _walk(value, "") is not None:
        value = escape_unstorable(value)
        encoded = msgspec.json.encode(value)
    return value, encoded


def _cap(value: Any, encoded: bytes, limit: int) -> Any:
    if len(encoded) <= limit:
        return value
    return {
        "truncated": True,
        "size_bytes": len(encoded),
        "preview": encoded[:_PREVIEW_CHARS].decode("utf-8", errors="replace"),
    }


def capped(value: Any, limit: int = SNAPSHOT_LIMIT_BYTES) -> Any:
    """A record of `value` as stored: unstorable text escaped, then capped to `limit` bytes of JSON."""
    value, encoded = _storable_encoding(value)
    return _cap(value, encoded, limit)


def output_snapshot(value: Any, limit: int = SNAPSHOT_LIMIT_BYTES) -> Any:
    """A step's output as stored: capped to `limit` bytes of JSON. Raises Unstorable, naming the place
    (`output.x`), if it holds text the store cannot hold: an output is never altered."""
    try:
        encoded = msgspec.json.encode(value)
    except UnicodeEncodeError:
        raise Unstorable(unstorable_part(value, "output") or "output contains a lone surrogate") from None
    if _NUL_IN_JSON in encoded and (where := _walk(value, "output")) is not None:
        raise Unstorable(where)
    return _cap(value, encoded, limit)
