"""The statistics the benchmarks report: nearest-rank percentiles, medians, ratios, and splitting a
count into blocks for contenders that take turns."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100: a value that was measured, never one between two. NaN for
    no values, so a phase that measured nothing shows as such rather than as zero."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(value: float, baseline: float) -> float:
    """`value` as a multiple of `baseline`; NaN when there is no baseline to compare with."""
    if baseline == 0 or math.isnan(baseline):
        return math.nan
    return value / baseline


def share(total: int, blocks: int) -> list[int]:
    """`total` split into `blocks` near-equal parts, the larger ones first."""
    return [total // blocks + (index < total % blocks) for index in range(blocks)]
