"""How a run ended, as handed back to whoever triggered it (`await run.wait()`)."""

from __future__ import annotations

from typing import Any

import msgspec

from nomaflow.states import RunState, StepState


class StepOutcome(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: str
    status: StepState
    attempts: int
    output: Any = None
    error: str | None = None
    dry_run: bool = False  # it only counted what it would do (its own dry_run, or the run's)


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    job: str
    status: RunState
    error: str | None
    steps: tuple[StepOutcome, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.status is RunState.SUCCEEDED

    def step(self, name: str) -> StepOutcome:
        for outcome in self.steps:
            if outcome.name == name:
                return outcome
        raise KeyError(name)
