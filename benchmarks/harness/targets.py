"""The targets of benchmarks/targets.toml: what each benchmark is held to, read from that one file."""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

TARGETS_FILE = Path(__file__).resolve().parents[1] / "targets.toml"

Comparison = Literal["<=", "<", ">=", ">"]
Unit = Literal["x", "s", "ms", "%", "KiB", "MiB"]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
# How a figure handed over in seconds, bytes, a fraction or a plain ratio reads in each unit.
_SCALE: dict[str, float] = {"x": 1.0, "s": 1.0, "ms": 1e3, "%": 100.0, "KiB": 1 / 1024, "MiB": 1 / 2**20}


def in_unit(value: float, unit: Unit) -> float:
    return value * _SCALE[unit]


def spell(value: float, unit: Unit) -> str:
    """`value` (already in `unit`) as the reports print it: 1.05x, 8.4 ms, 0.27%, 12.9 KiB."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    digits = 2 if unit in ("x", "s", "%") else 1
    return _with_unit(f"{value:,.{digits}f}", unit)


def _with_unit(number: str, unit: Unit) -> str:
    return f"{number}{unit}" if unit in ("x", "%") else f"{number} {unit}"


class Target(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    figure: str
    comparison: Comparison
    bound: float
    unit: Unit
    issue: int
    doc: str

    def met(self, value: float) -> bool:
        """Whether `value` (in seconds, bytes, a fraction or a plain ratio) meets the target. A figure
        that could not be measured (NaN) does not."""
        scaled = in_unit(value, self.unit)
        return not math.isnan(scaled) and _COMPARE[self.comparison](scaled, self.bound)

    @property
    def wanted(self) -> str:
        return f"{self.comparison} {_with_unit(f'{self.bound:,g}', self.unit)}"


class TargetsError(Exception):
    """benchmarks/targets.toml cannot be read, or lacks what a benchmark asks of it."""


def targets_of(benchmark: str, path: Path = TARGETS_FILE) -> dict[str, Target]:
    """`benchmark`'s targets, by name. A file that does not parse, a target with a missing, unknown or
    mistyped field, or a benchmark with no table raise TargetsError naming the file and the place."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetsError(f"{path}: {exc}") from exc
    tables = document.get(benchmark)
    if not isinstance(tables, dict):
        raise TargetsError(
            f"{path}: no table for the benchmark {benchmark!r} (tables: {', '.join(document)})"
        )
    targets: dict[str, Target] = {}
    for name, table in tables.items():
        try:
            targets[name] = msgspec.convert(table, Target)
        except msgspec.ValidationError as exc:
            raise TargetsError(f"{path}: [{benchmark}.{name}]: {exc}") from exc
    return targets
