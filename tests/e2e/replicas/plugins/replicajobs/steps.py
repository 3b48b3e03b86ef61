"""Steps for the replica and crash tests."""

from __future__ import annotations

from pathlib import Path

import anyio

from nomaflow.actors import StepContext


def tick(ctx: StepContext) -> dict[str, str]:
    return {"job": ctx.job}


def prepare() -> dict[str, int]:
    return {"rows": 41}


async def wait_for_file(path: str, rows: int, ctx: StepContext) -> dict[str, int]:
    ctx.log.info(f"waiting for {path}")
    # Another process creates the file: polling is the only way to see it from here.
    while not Path(path).exists():
        await anyio.sleep(0.05)
    return {"rows": rows + 1}


def finish(rows: int) -> dict[str, int]:
    return {"done": rows}
