"""OpenTelemetry tracing, optional: the front the rest of the engine uses, which never imports
OpenTelemetry itself. Only an engine with tracing enabled loads `engine.telemetry.otel`, and with it the
`opentelemetry` packages (`pip install 'nomaflow[otel]'`); otherwise tracing costs nothing at all.

Steps that call out take the attempt's trace context from `engine.telemetry.trace_context`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nomaflow.engine.telemetry.otel import RunTracer


class TracingUnavailable(RuntimeError):
    """Tracing was asked for but the OpenTelemetry packages are not installed."""


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
