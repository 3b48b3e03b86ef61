"""The one small protocol every step type implements, and what a step type may use from the engine.

A step type declares a msgspec Struct of its options (unknown keys rejected), may check them when the
configuration loads, may redact its rendered input before it is stored, names the secrets it sends (the
executor scrubs them from everything the step records), and runs an attempt:
`async run(ctx, options) -> JSON-able output`. It raises `StepFailure` (retryable) or
`PermanentStepFailure` to steer the retry policy; any other exception counts as retryable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from nomaflow.actors.ports import StepContext

OptionsT = TypeVar("OptionsT", bound=msgspec.Struct)


@dataclass
class StepEnvironment:
    """Engine resources a step type may use. Later capabilities add their own (connectors, http policy)."""

    root: Path  # the install folder (where app.toml is)
    store_url: str = ""  # the job store's database: the connector named "default"
    settings: dict[str, Any] = field(default_factory=dict)  # app.toml's tables as written, by name
    resources: dict[str, Any] = field(default_factory=dict)  # shared runtime objects, e.g. "connectors"


class StepType(Generic[OptionsT]):
    """Base of every step type. Subclasses set `name` and `options`, and implement `run`."""

    name: ClassVar[str]
    options: ClassVar[type[msgspec.Struct]]

    def __init__(self, env: StepEnvironment) -> None:
        self.env = env

    def check(self, options: OptionsT) -> list[tuple[str, str]]:
        """Load-time checks beyond the Struct's types: (field path within the step, message) pairs."""
        return []

    def redact(self, rendered: dict[str, Any]) -> dict[str, Any]:
        """The rendered options as they may be stored and shown (secrets removed)."""
        return rendered

    def secrets(self, options: OptionsT) -> list[str]:
        """The credentials these (rendered) options send: tokens, passwords, keys. Whatever the step logs,
        raises or returns is scrubbed of them, in every encoding (engine.steps.redaction)."""
        return []

    def run_ended(self, run_id: str) -> None:
        """Drop what the type kept for one run (an http step's cookies); called once the run has ended."""

    async def run(self, ctx: StepContext, options: OptionsT) -> Any:
        raise NotImplementedError  # pragma: no cover - every registered type overrides it

    async def aclose(self) -> None:
        """Release what the type opened (pools, clients); the engine calls it when it stops."""
