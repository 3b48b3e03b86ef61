"""Step callables the seed jobs name; the fuzz test only loads them, never runs them."""

from __future__ import annotations


def extract(month: str, region: str) -> dict[str, str]:
    return {"month": month, "region": region}


def total(orders: list[object], limit: float = 0.0) -> dict[str, int]:
    return {"count": len(orders)}
