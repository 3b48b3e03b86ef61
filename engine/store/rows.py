"""What the store's read queries return: frozen msgspec structs with aware UTC datetimes, and the opaque
cursor that pages through run history.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import msgspec

# The most rows one read answers (a page of runs, of log lines).
MAX_PAGE = 1000
# Jobs looked up per statement (bound parameters per statement stay well under every driver's limit).
LOOKUPS_PER_QUERY = 200


class RunRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    job_name: str
    app: str
    status: str
    triggered_by: str
    params: dict[str, Any]
    dry_run: bool
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    owner: str | None
    heartbeat_at: datetime | None
    resumed_from: str | None


class StepRow(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    position: int
    step_name: str
    type: str
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    input: dict[str, Any] | None
    output: Any
    error: str | None
    dry_run: bool  # it counted what it would do and changed nothing


class LogRow(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    seq: int
    step_name: str | None
    ts: datetime
    level: str
    message: str
    fields: dict[str, Any] | None


class JobState(msgspec.Struct, frozen=True, kw_only=True):
    """A job's operator-set state (ly2_job_state): paused or not, by whom, when, why."""

    job_name: str
    paused: bool
    changed_by: str
    changed_at: datetime
    reason: str | None = None


class RunPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of run history, newest first. Pass `next_cursor` as `before` for the next (older) page;
    it is None on the last page."""

    runs: list[RunRow]
    next_cursor: str | None


class BadCursor(ValueError):
    """A `before` cursor that this store did not hand out (or that was mangled on the way)."""


class _Position(msgspec.Struct, array_like=True):
    started_at: datetime
    id: str


def encode_cursor(started_at: datetime, run_id: str) -> str:
    """The keyset position just after this run, as a URL-safe token."""
    raw = msgspec.json.encode(_Position(started_at, run_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = msgspec.json.decode(raw, type=_Position)
    except (ValueError, msgspec.DecodeError) as exc:
        raise BadCursor(f"not a run history cursor: {cursor!r}") from exc
    if position.started_at.tzinfo is None:
        raise BadCursor(f"not a run history cursor: {cursor!r}")
    return position.started_at, position.id
