"""The step executor the actors call: render a step's templates, validate, and bind its step type.

Rendering happens once per step execution (retries reuse the same input); a step whose settings hold
no template renders alike every time, so it is rendered once and reused by later runs. The stored
input snapshot is rendered a second time with `${env.*}` values redacted, then passed through the
type's own `redact`.

Secrets are kept out of what a step records here, once for every step type: the values of the
`${env.*}` it reads and the credentials its type names (`StepType.secrets`) are scrubbed, in every
encoding, from its input snapshot, its log lines, its error and its output (engine.steps.redaction). A
step with no secret is called as it is, at no cost.
"""

from __future__ import annotations

import copy
import functools
import os
import traceback
from collections.abc import Awaitable, Mapping
from typing import Any

import msgspec

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.jsonable import NotJsonable, capped, to_jsonable
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import RunScope, StepContext, StepLog
from nomaflow.engine.config.decode import describe_error
from nomaflow.engine.config.templating import Scope, TemplateError, references, render
from nomaflow.engine.steps.base import StepType
from nomaflow.engine.steps.redaction import NO_SECRETS, Scrubber, scrub_error, scrubbing

# Distinct sets of secrets whose scrubber is kept for reuse (building one encodes every secret).
_SCRUBBERS_KEPT = 256


class PreparedCall:
    def __init__(
        self,
        step_type: StepType[Any],
        options: Any,
        snapshot: dict[str, Any],
        scrubber: Scrubber = NO_SECRETS,
    ) -> None:
        self._type = step_type
        self._options = options
        self._snapshot: dict[str, Any] = scrubber.value(snapshot)
        self._scrubber = scrubber

    @property
    def input_snapshot(self) -> dict[str, Any]:
        return self._snapshot

    def __call__(self, ctx: StepContext) -> Awaitable[Any]:
        if not self._scrubber:
            return self._type.run(ctx, self._options)
        return self._run_scrubbed(ctx)

    async def _run_scrubbed(self, ctx: StepContext) -> Any:
        scrub = self._scrubber
        quiet = copy.copy(ctx)
        quiet.log = StepLog(functools.partial(_emit_scrubbed, ctx.log, scrub))
        with scrubbing(scrub):
            try:
                result = await self._type.run(quiet, self._options)
            except StepFailure as exc:
                scrubbed = scrub_error(exc, scrub)
                if scrubbed is exc:
                    raise
                raise scrubbed from None
            except Exception as exc:
                # The step actor logs an unexpected error with its traceback. When either would show a
                # secret, the scrubbed traceback is logged here and a StepFailure (retryable, as the
                # error was) carries the scrubbed message instead.
                told = "".join(traceback.format_exception(exc, limit=20))
                clean = scrub(told)
                if clean == told:
                    raise
                message = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                quiet.log.error(message, traceback=clean)
                raise StepFailure(message) from None
        try:
            return scrub.value(to_jsonable(result))
        except NotJsonable:
            return result  # the step actor fails the step, saying why


def _emit_scrubbed(
    log: StepLog, scrub: Scrubber, level: str, message: str, fields: dict[str, Any] | None
) -> None:
    getattr(log, level)(scrub(message), **(scrub.value(fields) if fields else {}))


class StepExecutor:
    def __init__(
        self, step_types: Mapping[str, StepType[Any]], environ: Mapping[str, str] | None = None
    ) -> None:
        self._types = step_types
        self._environ = environ if environ is not None else os.environ
        # Steps whose settings hold no template render to the same thing every run: their decoded
        # options and input snapshot are made once. Keyed by the settings object's id, which the
        # entry keeps alive (so the id cannot be reused by another object).
        self._static: dict[int, tuple[Any, PreparedCall]] = {}
        # The environment variables each step's settings read, keyed the same way.
        self._env_names: dict[int, tuple[Any, tuple[str, ...]]] = {}
        self._scrubbers: dict[frozenset[str], Scrubber] = {}

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

    def _render(
        self, job: JobPlan, step: StepPlan, scope: RunScope, step_type: StepType[Any]
    ) -> PreparedCall:
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
            where, message = describe_error(exc, "", step_type.options)
            raise PermanentStepFailure(
                f"step '{step.name}': after templating, {where or 'its settings'}: {message}"
            ) from exc
        snapshot = capped(to_jsonable(step_type.redact(shown)))
        return PreparedCall(step_type, options, snapshot, self._scrubber(step, step_type, options))

    def _scrubber(self, step: StepPlan, step_type: StepType[Any], options: Any) -> Scrubber:
        secrets = [value for name in self._env_read(step.options) if (value := self._environ.get(name))]
        secrets += step_type.secrets(options)
        if not secrets:
            return NO_SECRETS
        key = frozenset(secrets)
        scrubber = self._scrubbers.get(key)
        if scrubber is None:
            if len(self._scrubbers) >= _SCRUBBERS_KEPT:
                self._scrubbers.clear()
            scrubber = self._scrubbers[key] = Scrubber(key)
        return scrubber

    def _env_read(self, settings: Any) -> tuple[str, ...]:
        cached = self._env_names.get(id(settings))
        if cached is not None and cached[0] is settings:
            return cached[1]
        names = tuple(
            sorted(
                {
                    reference.parts[1]
                    for _, reference in references(settings)
                    if reference.root == "env" and len(reference.parts) == 2
                }
            )
        )
        self._env_names[id(settings)] = (settings, names)
        return names


def _has_template(value: Any) -> bool:
    """Whether a `${...}` (or the `$${` escape) appears anywhere in the settings."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(item) for item in value)
    return False
