"""Step callables the engine tests drive. Gates are threading events, so tests wait on them, never sleep."""

from __future__ import annotations

import threading
from typing import Any

import anyio

from nomaflow.actors import StepContext
from nomaflow.actors.errors import PermanentStepFailure

_GATES: dict[str, threading.Event] = {}


def gate(name: str) -> threading.Event:
    return _GATES.setdefault(name, threading.Event())


def add(a: int, b: int) -> dict[str, int]:
    return {"sum": a + b}


async def double(value: int, ctx: StepContext) -> dict[str, Any]:
    ctx.log.info("doubling", value=value)
    ctx.log.warning("a warning line")
    return {"value": value * 2, "dry_run": ctx.dry_run, "run_id": ctx.run_id}


def block_until(name: str) -> dict[str, bool]:
    gate(f"{name}:entered").set()
    released = gate(name).wait(timeout=30)
    return {"released": released}


async def wait_forever(name: str) -> None:
    gate(f"{name}:entered").set()
    await anyio.sleep_forever()


def unjsonable() -> object:
    return object()


def explode(message: str) -> None:
    raise RuntimeError(message)


def echo(text: str) -> dict[str, str]:
    return {"text": text}


def logs_nul(ctx: StepContext) -> dict[str, str]:
    """A log line holding text PostgreSQL cannot store (NUL)."""
    ctx.log.info("a NUL \x00 here", detail="x\x00y")
    return {"logged": "yes"}


def logs_surrogate(ctx: StepContext) -> dict[str, str]:
    """A log line holding text no database can store (a lone surrogate)."""
    ctx.log.warning("a lone surrogate \udc80 here")
    return {"logged": "yes"}


def returns_nested_surrogate() -> dict[str, Any]:
    return {"rows": [{"name": "ok"}, {"name": "bad \ud800 name"}]}


def refuse_row(ctx: StepContext) -> None:
    # As the step types do, the error names its step, so that it reads alone in a log.
    raise PermanentStepFailure(f"step '{ctx.step}': row 3, column 'v': value 'twelve' does not fit")
