"""Callables for the browser tests' jobs."""

from __future__ import annotations

from pathlib import Path

import anyio

from nomaflow.actors import StepContext


async def extract(region: str, gate: str, ctx: StepContext) -> dict[str, object]:
    ctx.log.info(f"waiting for {gate}")
    while not Path(gate).exists():  # the test creates it once it has seen this step running
        await anyio.sleep(0.05)
    ctx.log.info(f"extracted 40 orders for {region}", region=region)
    return {"region": region, "count": 40}


async def summarise(count: int, min_amount: float, gate: str, ctx: StepContext) -> dict[str, object]:
    while not Path(f"{gate}.summarise").exists():
        await anyio.sleep(0.05)
    ctx.log.info(f"summarised {count} orders at or above {min_amount}")
    return {"orders": count, "min_amount": min_amount}


def prepare(ctx: StepContext) -> dict[str, int]:
    ctx.log.info("prepared")
    return {"ready": 1}


async def export(seconds: int, ctx: StepContext) -> dict[str, int]:
    for second in range(1, seconds + 1):
        await anyio.sleep(1)
        ctx.log.info(f"exported chunk {second}")
    return {"chunks": seconds}


def flaky_load(fail_times: int, ctx: StepContext) -> dict[str, int]:
    ctx.log.warning(f"attempt {ctx.attempt}: the warehouse is slow today")
    if ctx.attempt <= fail_times:
        raise ConnectionError(f"warehouse refused the connection (attempt {ctx.attempt})")
    ctx.log.info("loaded 1200 rows")
    return {"rows": 1200}


async def talk(burst: int, gate: str, ctx: StepContext) -> dict[str, int]:
    for number in range(1, burst + 1):
        ctx.log.info(f"burst line {number}")
    said = 0
    while not Path(gate).exists():  # the test creates it once it has read what it wanted
        said += 1
        ctx.log.info(f"still talking {said}")
        await anyio.sleep(0.05)
    return {"lines": burst + said}


async def fail_after_gate(gate: str, ctx: StepContext) -> None:
    if ctx.attempt == 1:
        while not Path(gate).exists():  # the test opens the run's drawer first, then lets it fail
            await anyio.sleep(0.05)
    raise ConnectionError(f"warehouse refused the connection (attempt {ctx.attempt})")
