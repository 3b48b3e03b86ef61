"""Builders for the records the actors hand the store, so tests say only what matters to them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nomaflow.actors.ports import RunMoved, RunRecord, StepMoved, StepRecord
from nomaflow.states import RunState, RunTrigger, StepState, StepTrigger

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """An instant `seconds` after T0: tests pick their timestamps instead of reading a clock."""
    return T0 + timedelta(seconds=seconds)


def run_record(job: str = "nightly", *, started: datetime = T0, **overrides: Any) -> RunRecord:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "job_name": job,
        "app": "billing",
        "status": RunState.RUNNING,
        "triggered_by": "cli:alice",
        "params": {"month": "2024-02"},
        "dry_run": False,
        "started_at": started,
        "owner": "engine-1",
    }
    values.update(overrides)
    return RunRecord(**values)


def step_records(run: RunRecord, *names: str) -> list[StepRecord]:
    return [
        StepRecord(run_id=run.id, position=position, step_name=name, type="python")
        for position, name in enumerate(names)
    ]


def step_moved(
    run: RunRecord,
    position: int,
    name: str,
    trigger: str,
    source: str,
    dest: str,
    *,
    seq: int,
    when: datetime,
    attempts: int = 1,
    **extra: Any,
) -> StepMoved:
    return StepMoved(
        run_id=run.id,
        seq=seq,
        position=position,
        step_name=name,
        trigger=StepTrigger(trigger),
        source=StepState(source),
        dest=StepState(dest),
        at=when,
        attempts=attempts,
        **extra,
    )


def run_moved(
    run: RunRecord,
    trigger: str,
    source: str,
    dest: str,
    *,
    seq: int,
    when: datetime,
    error: str | None = None,
) -> RunMoved:
    return RunMoved(
        run_id=run.id,
        seq=seq,
        trigger=RunTrigger(trigger),
        source=RunState(source),
        dest=RunState(dest),
        at=when,
        error=error,
    )
