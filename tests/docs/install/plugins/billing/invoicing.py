"""`billing.invoicing:rebuild_vat`, as the README's and docs/steps/python.md's jobs call it."""

from __future__ import annotations

from nomaflow import StepContext


def rebuild_vat(
    ctx: StepContext, period: str = "", previous_month: str = "", limit: int | None = None
) -> dict[str, str]:
    month = period or previous_month
    ctx.log.info(f"rebuilding the VAT tables of {month}")
    return {"period": month}
