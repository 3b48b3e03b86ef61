"""What the engine adds around every step attempt for the host's observability: the capture of
standard-library log records into the run's log (engine.telemetry.capture) and, when enabled,
OpenTelemetry spans (engine.telemetry.tracing). `RunTelemetry` is the one object the engine wires.

It wraps the step executor the actors call, so the boundary is set exactly around the step's own code
(its handler, with the step's redaction inside), for each attempt. With both turned off the executor
is not wrapped at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nomaflow.actors.events import RunFinished, RunSkipped, RunStarted
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import PreparedStep, RunScope, StepContext, StepExecutor
from nomaflow.engine.config.load import Install
from nomaflow.engine.events.bus import EventBus
from nomaflow.engine.telemetry.capture import LogCapture, attach_capture
from nomaflow.engine.telemetry.fields import current_step
from nomaflow.engine.telemetry.tracing import load_tracer

if TYPE_CHECKING:
    from nomaflow.engine.telemetry.otel import RunTracer


class RunTelemetry:
    """One engine's capture and tracing, from `[telemetry]` in app.toml unless the Engine says otherwise:
    `opentelemetry` True/False overrides the setting; a `tracer_provider` turns tracing on with it."""

    def __init__(
        self, install: Install, *, opentelemetry: bool | None = None, tracer_provider: object | None = None
    ) -> None:
        settings = install.settings.telemetry
        self.capture = LogCapture(settings, install) if settings.capture_logging else None
        traced = settings.opentelemetry if opentelemetry is None else opentelemetry
        if tracer_provider is not None and opentelemetry is not False:
            traced = True
        self.tracer: RunTracer | None = load_tracer(tracer_provider) if traced else None

    def listen(self, bus: EventBus) -> None:
        if self.capture is not None:
            bus.add_listener(self._run_ended, only=(RunFinished,))
        if self.tracer is not None:
            bus.add_listener(self.tracer.on_event, only=(RunStarted, RunFinished, RunSkipped))

    def _run_ended(self, event: Any) -> None:
        assert self.capture is not None
        self.capture.run_ended(event.run_id)

    def wrap(self, executor: StepExecutor) -> StepExecutor:
        if self.capture is None and self.tracer is None:
            return executor
        return ObservedExecutor(executor, self)

    def start(self) -> Callable[[], None]:
        """Put the capture handler on the root logger; return what takes it off."""
        return attach_capture() if self.capture is not None else _nothing


def _nothing() -> None:
    pass


class ObservedExecutor:
    def __init__(self, inner: StepExecutor, telemetry: RunTelemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    def prepare(self, job: JobPlan, step: StepPlan, scope: RunScope) -> PreparedStep:
        return ObservedStep(self._inner.prepare(job, step, scope), self._telemetry)


class ObservedStep:
    __slots__ = ("_inner", "_telemetry")

    def __init__(self, inner: PreparedStep, telemetry: RunTelemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    @property
    def input_snapshot(self) -> dict[str, Any]:
        return self._inner.input_snapshot

    def __call__(self, ctx: StepContext) -> Awaitable[Any]:
        return self._attempt(ctx)

    async def _attempt(self, ctx: StepContext) -> Any:
        telemetry = self._telemetry
        capture = telemetry.capture.begin(ctx) if telemetry.capture is not None else None
        token = current_step.set(capture) if capture is not None else None
        try:
            if telemetry.tracer is None:
                return await self._inner(ctx)
            with telemetry.tracer.step(ctx):
                return await self._inner(ctx)
        finally:
            if token is not None:
                current_step.reset(token)
            if capture is not None:
                capture.close()
