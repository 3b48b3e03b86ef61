"""Nomaflow's engine: configuration, store, scheduler, step types, server and CLI around the actors.

Names are loaded on first use: importing one of the subpackages (the CLI's `nomaflow.engine.cli`, the
config loader) runs this file first, and must not pay for the whole engine, its drivers and the actors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomaflow._exports import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


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
