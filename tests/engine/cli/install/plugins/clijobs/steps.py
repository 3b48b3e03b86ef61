"""Steps of the CLI tests' jobs: one that fails its first attempt, one that says hello."""

from __future__ import annotations

from typing import Any

from nomaflow.actors import StepContext


def flaky(ctx: StepContext) -> dict[str, Any]:
    ctx.log.warning(f"attempt {ctx.attempt}")
    if ctx.attempt < 2:
        raise RuntimeError("boom")
    return {"ok": True}


def hello() -> str:
    return "hello"
