"""Nomaflow's engine: configuration, store, scheduler, step types, server and CLI around the actors.

Names are loaded on first use: importing one of the subpackages (the CLI's `nomaflow.engine.cli`, the
config loader) runs this file first, and must not pay for the whole engine, its drivers and the actors.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_PUBLIC = {
    "ConfigError": "nomaflow.engine.config.problems",
    "Engine": "nomaflow.engine.engine",
    "ManualClock": "nomaflow.engine.clock",
    "RunHandle": "nomaflow.engine.engine",
    "RunOutcome": "nomaflow.actors.outcome",
    "StepContext": "nomaflow.actors.ports",
    "StepOutcome": "nomaflow.actors.outcome",
    "SystemClock": "nomaflow.engine.clock",
}

if TYPE_CHECKING:
    from nomaflow.actors.outcome import RunOutcome, StepOutcome
    from nomaflow.actors.ports import StepContext
    from nomaflow.engine.clock import ManualClock, SystemClock
    from nomaflow.engine.config.problems import ConfigError
    from nomaflow.engine.engine import Engine, RunHandle


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'nomaflow.engine' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = [
    "ConfigError",
    "Engine",
    "ManualClock",
    "RunHandle",
    "RunOutcome",
    "StepContext",
    "StepOutcome",
    "SystemClock",
]
