"""Step types by name. Each lives in its own module behind the protocol in `engine.steps.base`."""

from __future__ import annotations

from engine.steps.base import StepEnvironment, StepType
from engine.steps.python import PythonStep

BUILTIN_STEP_TYPES: tuple[type[StepType], ...] = (PythonStep,)  # type: ignore[type-arg]


def step_types(env: StepEnvironment) -> dict[str, StepType]:  # type: ignore[type-arg]
    """One instance of every built-in step type, sharing `env`."""
    return {cls.name: cls(env) for cls in BUILTIN_STEP_TYPES}


__all__ = ["BUILTIN_STEP_TYPES", "StepEnvironment", "StepType", "step_types"]
