"""Each step type's own load-time check, run once per distinct (type, options) while one install loads.

A step type's `check(options)` may import a module and read a callable's signature (python steps,
~50 µs). Its answer depends only on the options and on the install being loaded, so 10,000 steps
written alike need one check, not 10,000. Each step still gets every problem, under its own path.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import date, datetime, time
from typing import Any

from nomaflow.engine.steps.base import StepType

# Values compared by their repr: equal floats (0.0 and -0.0) or datetimes (the same instant in two
# zones) are not the same options, and a step type may tell them apart.
_BY_REPR = (float, datetime, date, time)
_BY_VALUE = (str, int, bool, type(None))


def frozen(value: Any) -> Hashable | None:
    """`value` (plain TOML data) as a hashable key that tells apart every two different values, types
    included (1, 1.0 and true differ); None if it holds anything else, such as an object a job
    defined in Python passed along."""
    kind = type(value)  # exact types: a subclass of str may behave differently
    if kind in _BY_VALUE:
        return (kind, value)
    if kind in _BY_REPR:
        return (kind, repr(value))
    if kind is list:
        items = tuple(frozen(item) for item in value)
        return None if any(item is None for item in items) else (list, items)
    if kind is dict:
        pairs = tuple((key, frozen(item)) for key, item in value.items())
        if any(type(key) is not str or item is None for key, item in pairs):
            return None
        return (dict, pairs)
    return None


class StepChecks:
    """Remembers each step type's answers during one load (one set of step types, one environment)."""

    def __init__(self) -> None:
        # Keyed by the step type object itself: the load's types live as long as this does.
        self._answers: dict[tuple[object, Hashable], Sequence[tuple[str, str]]] = {}

    def problems(
        self,
        step_type: StepType[Any],
        written: dict[str, Any],
        options: Any,
    ) -> Sequence[tuple[str, str]]:
        """`step_type.check(options)`, where `options` were decoded from the `written` table."""
        key = frozen(written)
        if key is None:
            return step_type.check(options)
        answer = self._answers.get((step_type, key))
        if answer is None:
            answer = self._answers[(step_type, key)] = tuple(step_type.check(options))
        return answer
