"""A step callable whose first attempt fails and whose second succeeds (retry and tracing tests)."""

from __future__ import annotations

from typing import Any

from nomaflow.actors import StepContext


def fails_first_attempt(ctx: StepContext) -> dict[str, Any]:
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return {"attempt": ctx.attempt}
