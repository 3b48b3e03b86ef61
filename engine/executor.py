"""The step executor the actors call: render a step's templates, validate, and bind its step type.

Rendering happens once per step execution (retries reuse the same input); a step whose settings hold
no template renders alike every time, so it is rendered once and reused by later runs. The stored
input snapshot is rendered a second time with `${env.*}` values redacted, then passed through the
type's own `redact`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Mapping
from typing import Any

import msgspec

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import RunScope, StepContext
from nomaflow.actors.snapshot import capped, to_jsonable
from nomaflow.engine.config.decode import describe_error
from nomaflow.engine.steps.base import StepType
from nomaflow.engine.templating import Scope, TemplateError, render


class PreparedCall:
    def __init__(self, step_type: StepType, options: Any, snapshot: dict[str, Any]) -> None:  # type: ignore[type-arg]
        self._type = step_type
        self._options = options
        self._snapshot = snapshot

    @property
    def input_snapshot(self) -> dict[str, Any]:
        return self._snapshot

    def __call__(self, ctx: StepContext) -> Awaitable[Any]:
        return self._type.run(ctx, self._options)


class StepExecutor:
    def __init__(self, step_types: Mapping[str, StepType], environ: Mapping[str, str] | None = None) -> None:  # type: ignore[type-arg]
        self._types = step_types
        self._environ = environ if environ is not None else os.environ
        # Steps whose settings hold no template render to the same thing every run: their decoded
        # options and input snapshot are made once. Keyed by the settings object's id, which the
        # entry keeps alive (so the id cannot be reused by another object).
        self._static: dict[int, tuple[Any, PreparedCall]] = {}

    def prepare(self, job: JobPlan, step: StepPlan, scope: RunScope) -> PreparedCall:
        step_type = self._types.get(step.type)
        if step_type is None:
            raise PermanentStepFailure(f"step '{step.name}': unknown step type '{step.type}'")
        cached = self._static.get(id(step.options))
        if cached is not None and cached[0] is step.options and cached[1]._type is step_type:
            return cached[1]
        prepared = self._render(job, step, scope, step_type)
        if not _has_template(step.options):
            self._static[id(step.options)] = (step.options, prepared)
        return prepared

    def _render(self, job: JobPlan, step: StepPlan, scope: RunScope, step_type: StepType) -> PreparedCall:  # type: ignore[type-arg]
        template_scope = Scope(
            run_id=scope.run_id,
            job=scope.job,
            timezone=job.timezone,
            logical_time=scope.logical_time,
            params=scope.params,
            outputs=scope.outputs,
            previous_output=scope.previous_output,
            environ=self._environ,
        )
        try:
            rendered = render(step.options, template_scope)
            shown = render(step.options, template_scope, redact_env=True)
        except TemplateError as exc:
            raise PermanentStepFailure(f"step '{step.name}': {exc}") from exc
        try:
            options = msgspec.convert(rendered, step_type.options, strict=False)
        except msgspec.ValidationError as exc:
            where, message = describe_error(exc, "")
            raise PermanentStepFailure(
                f"step '{step.name}': after templating, {where or 'its settings'}: {message}"
            ) from exc
        snapshot = capped(to_jsonable(step_type.redact(shown)))
        return PreparedCall(step_type, options, snapshot)


def _has_template(value: Any) -> bool:
    """Whether a `${...}` (or the `$${` escape) appears anywhere in the settings."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(item) for item in value)
    return False
