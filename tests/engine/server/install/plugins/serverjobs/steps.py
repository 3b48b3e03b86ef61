"""Step callables of the server tests' jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from nomaflow.actors import StepContext


async def wait_for_file(path: str, ctx: StepContext) -> dict[str, str]:
    ctx.log.info(f"waiting for {path}")
    # Another process (or the test) creates the file: polling is the only way to see it from here.
    while not Path(path).exists():  # noqa: ASYNC110, ASYNC240
        await anyio.sleep(0.02)
    return {"seen": path}


def after_gate(ctx: StepContext) -> dict[str, bool]:
    ctx.log.info("gate passed")
    return {"ok": True}


def talk(fail: bool, lines: int, ctx: StepContext) -> dict[str, int]:
    for number in range(lines):
        ctx.log.info(f"line {number}")
    if fail:
        raise ValueError("asked to fail")
    return {"lines": lines}


def echo(text: str, tags: list[Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "tags": tags, "extra": extra}


def fails_first(ctx: StepContext) -> dict[str, int]:
    """Fails its first attempt, succeeds on the next: a step that needs its retry."""
    if ctx.attempt == 1:
        raise ConnectionError("the service was restarting")
    return {"attempt": ctx.attempt}
