"""Nomaflow's engine: configuration, store, scheduler, step types, server and CLI around the actors."""

from actors.outcome import RunOutcome, StepOutcome
from actors.ports import StepContext
from engine.clock import ManualClock, SystemClock
from engine.config.problems import ConfigError
from engine.engine import Engine, RunHandle

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
