"""Runs and step attempts as OpenTelemetry spans. Imported only when tracing is enabled
(engine.telemetry.tracing), so OpenTelemetry is never imported otherwise.

A run is a trace: its root span starts when the run starts (RunStarted) and ends with it (RunFinished);
a skipped run is a span that ends as it starts. Each step attempt is a child span of its run's, made
current (OpenTelemetry's context lives in contextvars, so threads and tasks of the step see it) while
the attempt runs, which is how the http step sends it on as `traceparent`. Spans are given to whatever
TracerProvider the host set up (or the one passed to the Engine); with none, the API's no-op one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from nomaflow import __version__
from nomaflow.actors.events import AnyEvent, RunFinished, RunSkipped, RunStarted
from nomaflow.actors.ports import StepContext
from nomaflow.engine.telemetry.trace_context import trace_injector
from nomaflow.states import RunState

# Span attributes (docs/logging.md#opentelemetry).
JOB = "nomaflow.job"
RUN_ID = "nomaflow.run_id"
STEP = "nomaflow.step"
ATTEMPT = "nomaflow.attempt"
STATUS = "nomaflow.status"
TRIGGERED_BY = "nomaflow.triggered_by"

# Runs whose span is held at once; a span leaves when its run ends. Only a bound against runs that
# would never report an end.
_RUNS_KEPT = 100_000


class RunTracer:
    def __init__(self, provider: Any = None) -> None:
        self._tracer = trace.get_tracer("nomaflow", __version__, tracer_provider=provider)
        self._runs: dict[str, trace.Span] = {}

    def _run_span(self, run_id: str, job: str, triggered_by: str | None = None) -> trace.Span:
        span = self._runs.get(run_id)
        if span is None:
            if len(self._runs) >= _RUNS_KEPT:
                self._runs.pop(next(iter(self._runs))).end()
            attributes = {JOB: job, RUN_ID: run_id}
            if triggered_by is not None:
                attributes[TRIGGERED_BY] = triggered_by
            # A root: a run is its own trace, whatever context the code that published its start had.
            span = self._tracer.start_span(
                f"run {job}", context=otel_context.Context(), attributes=attributes
            )
            self._runs[run_id] = span
        return span

    def on_event(self, event: AnyEvent) -> None:
        """A bus listener for RunStarted, RunFinished and RunSkipped."""
        if isinstance(event, RunStarted):
            self._run_span(event.run_id, event.job, event.triggered_by)
        elif isinstance(event, RunFinished):
            span = self._run_span(event.run_id, event.job)
            del self._runs[event.run_id]
            self._end(span, event.status, event.error)
        elif isinstance(event, RunSkipped):
            span = self._run_span(event.run_id, event.job, event.triggered_by)
            del self._runs[event.run_id]
            self._end(span, RunState.SKIPPED, None)

    @staticmethod
    def _end(span: trace.Span, status: str, error: str | None) -> None:
        span.set_attribute(STATUS, status)
        if status == RunState.FAILED:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
        span.end()

    @contextmanager
    def step(self, ctx: StepContext) -> Iterator[None]:
        """One step attempt as a span, current while the attempt runs."""
        parent = self._run_span(ctx.run_id, ctx.job)
        span = self._tracer.start_span(
            f"step {ctx.step}",
            context=trace.set_span_in_context(parent),
            attributes={JOB: ctx.job, RUN_ID: ctx.run_id, STEP: ctx.step, ATTEMPT: ctx.attempt},
            record_exception=False,
            set_status_on_exception=False,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        injecting = trace_injector.set(propagate.inject)
        status = "failed"
        try:
            yield
            status = "succeeded"
        except anyio.get_cancelled_exc_class():
            status = "cancelled"  # aborted, or timed out: the step's own record says which
            raise
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            span.set_attribute(STATUS, status)
            trace_injector.reset(injecting)
            otel_context.detach(token)
            span.end()
