"""`payroll.run:pay`, as docs/configuration.md's payroll job calls it."""

from __future__ import annotations


def pay() -> dict[str, int]:
    return {"paid": 0}
