"""Step types by name. Each lives in its own module behind the protocol in `nomaflow.engine.steps.base`."""

from __future__ import annotations

from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.http import HttpStep
from nomaflow.engine.steps.ldap.sync import LdapSyncStep
from nomaflow.engine.steps.python.step import PythonStep
from nomaflow.engine.steps.retention import RetentionStep
from nomaflow.engine.steps.sql.copy import SqlCopy
from nomaflow.engine.steps.sql.query import SqlQuery

BUILTIN_STEP_TYPES: tuple[type[StepType], ...] = (  # type: ignore[type-arg]
    PythonStep,
    HttpStep,
    SqlQuery,
    SqlCopy,
    LdapSyncStep,
    RetentionStep,
)


def step_types(env: StepEnvironment) -> dict[str, StepType]:  # type: ignore[type-arg]
    """One instance of every built-in step type, sharing `env`."""
    return {cls.name: cls(env) for cls in BUILTIN_STEP_TYPES}


__all__ = ["BUILTIN_STEP_TYPES", "StepEnvironment", "StepType", "step_types"]
