"""Nomaflow's engine: configuration, store, scheduler, step types, server and CLI around the actors."""

from nomaflow.actors.outcome import RunOutcome, StepOutcome
from nomaflow.actors.ports import StepContext
from nomaflow.engine.clock import ManualClock, SystemClock
from nomaflow.engine.config.problems import ConfigError
from nomaflow.engine.engine import Engine, RunHandle

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
