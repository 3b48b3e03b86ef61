"""OpenTelemetry tracing, optional: the front the rest of the engine uses, which never imports
OpenTelemetry itself. Only an engine with tracing enabled loads `engine.telemetry.otel`, and with it the
`opentelemetry` packages (`pip install 'nomaflow[otel]'`); otherwise tracing costs nothing at all.

Steps that call out (the http step) ask `inject_trace_context` to add the W3C `traceparent` header of
the step attempt running: a no-op unless a traced attempt set the injector in this context.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nomaflow.engine.telemetry.otel import RunTracer

# Set by a traced step attempt for its own context: OpenTelemetry's propagator `inject`.
trace_injector: ContextVar[Callable[[MutableMapping[str, str]], None] | None] = ContextVar(
    "nomaflow_trace_injector", default=None
)


class TracingUnavailable(RuntimeError):
    """Tracing was asked for but the OpenTelemetry packages are not installed."""


def inject_trace_context(headers: MutableMapping[str, str]) -> None:
    """Add the trace context of the step attempt running (`traceparent`, `tracestate`) to `headers`,
    unless they already carry one."""
    inject = trace_injector.get()
    if inject is not None and not any(name.lower() == "traceparent" for name in headers):
        inject(headers)


def load_tracer(provider: object | None = None) -> RunTracer:
    """The run tracer, on `provider` (an OpenTelemetry TracerProvider) or else on the global one."""
    try:
        from nomaflow.engine.telemetry.otel import RunTracer
    except ImportError as exc:
        raise TracingUnavailable(
            f"OpenTelemetry tracing is enabled ([telemetry] opentelemetry in app.toml, or the Engine's "
            f"tracing options) but the OpenTelemetry API cannot be imported ({exc}): "
            "pip install 'nomaflow[otel]'"
        ) from None
    return RunTracer(provider)
