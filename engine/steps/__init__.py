"""Step types by name. Each lives in its own module behind the protocol in `nomaflow.engine.steps.base`.

A type's module is imported when the type is first asked for, not before: an install of python steps
never loads ldap3, and the CLI's read commands start without the drivers of types nobody uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

from nomaflow.engine.steps.base import StepEnvironment, StepType

# name -> "module:class", in the order they are documented.
BUILTIN_STEP_TYPES: dict[str, str] = {
    "python": "nomaflow.engine.steps.python.step:PythonStep",
    "http": "nomaflow.engine.steps.http:HttpStep",
    "sql_query": "nomaflow.engine.steps.sql.query:SqlQuery",
    "sql_copy": "nomaflow.engine.steps.sql.copy:SqlCopy",
    "ldap_sync": "nomaflow.engine.steps.ldap.sync:LdapSyncStep",
    "retention": "nomaflow.engine.steps.retention:RetentionStep",
}


def step_type_class(name: str) -> type[StepType[Any]]:
    """The class of the built-in step type `name` (KeyError for an unknown one), its module imported."""
    module, _, attribute = BUILTIN_STEP_TYPES[name].partition(":")
    cls: type[StepType[Any]] = getattr(import_module(module), attribute)
    return cls


class StepTypes(Mapping[str, StepType[Any]]):
    """One instance of every built-in step type, sharing one environment, each made on first lookup.
    Names are known without importing anything; iterating values makes them all."""

    def __init__(self, env: StepEnvironment) -> None:
        self._env = env
        self._made: dict[str, StepType[Any]] = {}

    def __getitem__(self, name: str) -> StepType[Any]:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = step_type_class(name)(self._env)
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(BUILTIN_STEP_TYPES)

    def __len__(self) -> int:
        return len(BUILTIN_STEP_TYPES)

    def __contains__(self, name: object) -> bool:
        return name in BUILTIN_STEP_TYPES


def made_step_types(types: Mapping[str, StepType[Any]]) -> list[StepType[Any]]:
    """The step types of `types` made so far, in the order they were made: a type never looked up has
    run no step, so it holds nothing to close and nothing per run (any other mapping: all of them)."""
    if isinstance(types, StepTypes):
        return list(types._made.values())
    return list(types.values())


def step_types(env: StepEnvironment) -> StepTypes:
    """Every built-in step type, sharing `env`, made when first used."""
    return StepTypes(env)


__all__ = [
    "BUILTIN_STEP_TYPES",
    "StepEnvironment",
    "StepType",
    "StepTypes",
    "made_step_types",
    "step_type_class",
    "step_types",
]
