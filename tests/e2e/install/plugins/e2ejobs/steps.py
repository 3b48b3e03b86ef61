"""Steps for the e2e jobs. `wait_for_file` blocks until the test creates a file: a cross-process gate."""

from __future__ import annotations

from pathlib import Path

import anyio

from nomaflow.actors import StepContext


async def wait_for_file(path: str, ctx: StepContext) -> dict[str, str]:
    ctx.log.info(f"waiting for {path}")
    # Another process creates the file: polling is the only way to see it from here.
    while not Path(path).exists():
        await anyio.sleep(0.05)
    return {"seen": path}


def tick(ctx: StepContext) -> dict[str, str]:
    ctx.log.info("tick")
    return {"job": ctx.job}
