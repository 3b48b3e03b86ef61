"""Callables for the example jobs. They run offline and return what they did, as real steps should."""

from __future__ import annotations

import random

import anyio

from nomaflow.actors import StepContext

REGIONS = ("north", "south", "east", "west")


def extract_orders(month: str, region: str, ctx: StepContext) -> dict[str, object]:
    rng = random.Random(f"{month}-{region}")
    regions = REGIONS if region == "all" else (region,)
    orders = [
        {"id": n, "region": rng.choice(regions), "amount": round(rng.uniform(5, 500), 2)}
        for n in range(1, 41)
    ]
    ctx.log.info(f"extracted {len(orders)} orders for {month}", month=month, region=region)
    return {"month": month, "orders": orders, "count": len(orders)}


def summarise(orders: list[dict[str, object]], min_amount: float, ctx: StepContext) -> dict[str, object]:
    totals: dict[str, float] = {}
    for order in orders:
        amount = float(order["amount"])  # type: ignore[arg-type]
        if amount >= min_amount:
            region = str(order["region"])
            totals[region] = round(totals.get(region, 0.0) + amount, 2)
    ctx.log.info("totals computed", regions=len(totals))
    return {"totals": totals, "grand_total": round(sum(totals.values()), 2)}


async def publish(title: str, totals: dict[str, float], ctx: StepContext) -> dict[str, object]:
    for region, total in sorted(totals.items()):
        ctx.log.info(f"{title}: {region} = {total:.2f}")
    return {"published": title, "lines": len(totals)}


def flaky_sync(ctx: StepContext) -> dict[str, object]:
    if ctx.attempt == 1:
        raise ConnectionError("the upstream API closed the connection (first attempt always fails)")
    ctx.log.info(f"synchronised on attempt {ctx.attempt}")
    return {"synced": 17, "attempt": ctx.attempt}


def beat(at: str, ctx: StepContext) -> dict[str, str]:
    ctx.log.info(f"alive at {at}")
    return {"at": at}


def prepare_export(ctx: StepContext) -> dict[str, int]:
    ctx.log.info("export prepared")
    return {"ready": 1}


async def export_chunks(chunks: int, seconds_per_chunk: float, ctx: StepContext) -> dict[str, int]:
    for chunk in range(1, chunks + 1):
        await anyio.sleep(seconds_per_chunk)
        ctx.log.info(f"exported chunk {chunk}/{chunks}", chunk=chunk)
    return {"chunks": chunks}


def announce(exported: int, ctx: StepContext) -> dict[str, int]:
    ctx.log.info(f"export of {exported} chunks announced")
    return {"announced": exported}
