"""The trace context of the step attempt running, for steps that call out (the http step adds the W3C
`traceparent` header). Apart from `tracing.py` and `otel.py` so that both can use it without importing
each other, and so that a step type never loads OpenTelemetry: unless a traced attempt set the injector
in this context, adding the headers does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from contextvars import ContextVar

# Set by a traced step attempt for its own context: OpenTelemetry's propagator `inject`.
trace_injector: ContextVar[Callable[[MutableMapping[str, str]], None] | None] = ContextVar(
    "nomaflow_trace_injector", default=None
)


def inject_trace_context(headers: MutableMapping[str, str]) -> None:
    """Add the trace context of the step attempt running (`traceparent`, `tracestate`) to `headers`,
    unless they already carry one."""
    inject = trace_injector.get()
    if inject is not None and not any(name.lower() == "traceparent" for name in headers):
        inject(headers)
