"""Running a step type on its own, outside an engine, as the step benchmarks do: the context a step
is handed, with no params, no earlier outputs, and its log lines dropped (writing them is the engine's
cost, measured by the dispatch benchmark, not the step's)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from nomaflow.actors.ports import StepContext, StepLog


def lone_context(step: str) -> StepContext:
    return StepContext(
        run_id="bench",
        job="bench",
        step=step,
        attempt=1,
        params={},
        dry_run=False,
        outputs={},
        previous_output=None,
        log=StepLog(lambda level, message, fields: None),
        cancel_flag=threading.Event(),
        now=lambda: datetime.now(UTC),
    )
