"""Nomaflow: an in-process job scheduler for FastAPI services. This is the public API.

    from nomaflow import Engine

    async def nightly() -> None:
        async with Engine.from_path("app.toml") as engine:
            run = await engine.trigger("billing-nightly-rebuild")
            outcome = await run.wait()

The folders `engine/`, `actors/` and `states/` at the top of the repository are this package's
`nomaflow.engine`, `nomaflow.actors` and `nomaflow.states` (links in a checkout, real folders in the
wheel). Names are loaded on first use, so `import nomaflow` (and the CLI, which imports it first) does
not pay for the database drivers and the server stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomaflow._exports import lazy_exports

__version__ = "0.2.0"

# name -> the module that defines it
_PUBLIC = {
    "AnyEvent": "nomaflow.actors.events",
    "LogLine": "nomaflow.actors.events",
    "RunFinished": "nomaflow.actors.events",
    "RunSkipped": "nomaflow.actors.events",
    "RunStarted": "nomaflow.actors.events",
    "StepFinished": "nomaflow.actors.events",
    "StepRetrying": "nomaflow.actors.events",
    "StepStarted": "nomaflow.actors.events",
    "ConfigError": "nomaflow.engine.config.problems",
    "Engine": "nomaflow.engine.engine",
    "ManualClock": "nomaflow.engine.clock",
    "Nomaflow": "nomaflow.engine.server.host",
    "NomaflowClient": "nomaflow.engine.client",
    "Principal": "nomaflow.engine.server.auth.tokens",
    "Role": "nomaflow.engine.server.auth.tokens",
    "RunHandle": "nomaflow.engine.engine",
    "RunOutcome": "nomaflow.actors.outcome",
    "StepContext": "nomaflow.actors.ports",
    "StepOutcome": "nomaflow.actors.outcome",
    "StoreUnavailable": "nomaflow.actors.errors",
    "StoreUnusable": "nomaflow.engine.store.opening",
    "SystemClock": "nomaflow.engine.clock",
}

if TYPE_CHECKING:
    from nomaflow.actors.errors import StoreUnavailable
    from nomaflow.actors.events import (
        AnyEvent,
        LogLine,
        RunFinished,
        RunSkipped,
        RunStarted,
        StepFinished,
        StepRetrying,
        StepStarted,
    )
    from nomaflow.actors.outcome import RunOutcome, StepOutcome
    from nomaflow.actors.ports import StepContext
    from nomaflow.engine.client import NomaflowClient
    from nomaflow.engine.clock import ManualClock, SystemClock
    from nomaflow.engine.config.problems import ConfigError
    from nomaflow.engine.engine import Engine, RunHandle
    from nomaflow.engine.server.auth.tokens import Principal, Role
    from nomaflow.engine.server.host import Nomaflow
    from nomaflow.engine.store.opening import StoreUnusable


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


__all__ = [
    "AnyEvent",
    "ConfigError",
    "Engine",
    "LogLine",
    "ManualClock",
    "Nomaflow",
    "NomaflowClient",
    "Principal",
    "Role",
    "RunFinished",
    "RunHandle",
    "RunOutcome",
    "RunSkipped",
    "RunStarted",
    "StepContext",
    "StepFinished",
    "StepOutcome",
    "StepRetrying",
    "StepStarted",
    "StoreUnavailable",
    "StoreUnusable",
    "SystemClock",
    "__version__",
]
