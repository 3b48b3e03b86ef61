"""Which run a log record is about: the `run_id`, `job` and `step` fields of Nomaflow's own records
(passed as `extra`), and of any record made while a step runs (the step attempt in this context).

Kept free of heavy imports: log formatters and filters of the host may import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nomaflow.actors.ports import StepContext


class CapturedStep(Protocol):
    """What a record made during a step attempt is told about it (engine.telemetry.capture's
    StepCapture is the one kind): a Protocol so that this light module needs nothing of the capture."""

    @property
    def ctx(self) -> StepContext: ...

    @property
    def level(self) -> int: ...

    def take(self, record: logging.LogRecord) -> None: ...


# The step attempt running in this context, if any: set and reset around each attempt
# (engine.telemetry.observed); tasks the step starts and worker threads of anyio.to_thread inherit it.
current_step: ContextVar[CapturedStep | None] = ContextVar("nomaflow_current_step", default=None)

FIELDS = ("run_id", "job", "step")


def run_fields(run_id: str, job: str, step: str | None = None) -> dict[str, Any]:
    """`extra` for a record about run `run_id` of `job` (and its step `step`)."""
    return {"run_id": run_id, "job": job, "step": step}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's run fields that have a value: from its `extra`, else from the step running."""
    given = record.__dict__
    if "run_id" in given:
        return {name: given[name] for name in FIELDS if given.get(name) is not None}
    step = current_step.get()
    if step is None:
        return {}
    ctx = step.ctx
    return {"run_id": ctx.run_id, "job": ctx.job, "step": ctx.step}


class StepFields(logging.Filter):
    """Gives a record made while a step runs the attributes `run_id`, `job` and `step` (as if passed in
    `extra`), unless it has them already. Put it on handlers, like the secret filter: `nomaflow serve`
    and the FastAPI host put it on theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        step = current_step.get()
        if step is not None and "run_id" not in record.__dict__:
            ctx = step.ctx
            record.run_id, record.job, record.step = ctx.run_id, ctx.job, ctx.step
        return True


def attach_step_fields() -> Callable[[], None]:
    """Add a StepFields filter to every handler configured now that has none; return the undo."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    step_fields = StepFields()
    added: list[logging.Handler] = []
    for logger in loggers:
        for handler in logger.handlers:
            if handler not in added and not any(isinstance(item, StepFields) for item in handler.filters):
                handler.addFilter(step_fields)
                added.append(handler)

    def detach() -> None:
        for handler in added:
            handler.removeFilter(step_fields)

    return detach
