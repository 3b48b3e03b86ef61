"""Snapshots of step inputs and outputs as stored and streamed: JSON-able and size-capped.

A step's full output stays in memory for the next steps' templates; only what is persisted or sent to
subscribers is capped, so a 100 MB response never lands in the database or on a websocket.
"""

from __future__ import annotations

from typing import Any

import msgspec

SNAPSHOT_LIMIT_BYTES = 64 * 1024
_PREVIEW_CHARS = 2000


class NotJsonable(TypeError):
    pass


def to_jsonable(value: Any) -> Any:
    """The JSON-able form of `value` (dates become ISO strings, structs dicts); raise NotJsonable."""
    try:
        return msgspec.to_builtins(value, str_keys=True)
    except (TypeError, ValueError) as exc:
        raise NotJsonable(f"{type(value).__name__} is not JSON-able: {exc}") from exc


def capped(value: Any, limit: int = SNAPSHOT_LIMIT_BYTES) -> Any:
    encoded = msgspec.json.encode(value)
    if len(encoded) <= limit:
        return value
    return {
        "truncated": True,
        "size_bytes": len(encoded),
        "preview": encoded[:_PREVIEW_CHARS].decode("utf-8", errors="replace"),
    }
