"""Snapshots of step inputs and outputs as stored and streamed: JSON-able, storable and size-capped.

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

from typing import Any

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


def _bad_char(text: str) -> str | None:
    """The first character of `text` no store can hold, described; None if there is none."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    if text.isascii():  # O(1) in CPython: the common case costs nothing more
        return None
    for char in text:
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"a lone surrogate (\\u{ord(char):04x})"
    return None


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{msgspec.json.encode(escape_unstorable(key)).decode()}]"


def _walk(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        bad = _bad_char(value)
        return None if bad is None else f"{path} contains {bad}"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (bad := _bad_char(key)) is not None:
                return f"a key of {path or 'the value'} contains {bad}"
            if (found := _walk(item, _child(path, key))) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := _walk(item, _child(path, index))) is not None:
                return found
    return None


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
        f"\\u{ord(char):04x}" if char == "\x00" or 0xD800 <= ord(char) <= 0xDFFF else char for char in text
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
