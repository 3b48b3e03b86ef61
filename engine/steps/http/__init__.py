"""The `http` step: one HTTP request with httpx, its response (status, some headers, a capped body) as output.

Safety comes first: every hop, redirects included, must go to a host in `[http] allowed_hosts`
(`hosts.py`); the body is streamed and never read past the cap (`exchange.py`); connection errors,
timeouts, 5xx and 429 are retryable (a Retry-After is passed to the retry policy, `status.py`) while other
unexpected statuses fail at once; a dry run sends GET, HEAD and OPTIONS only and records what it would
have sent otherwise; credentials are removed from everything that is stored or logged (`options.py`,
engine.steps.redaction; the executor scrubs what `secrets` names).

Cookies live with a run: a `Set-Cookie` answered to one of its steps is sent by its later steps (a login
step, then a call), never by another run's. One client (one connection pool) serves every run; its own
jar refuses every cookie, and each run's jar is applied hop by hop (`step.py`).
"""

from __future__ import annotations

from nomaflow.engine.steps.http.exchange import DEFAULT_RESPONSE_HEADERS, with_params
from nomaflow.engine.steps.http.hosts import HostNotAllowed, HostRule, parse_host_rule
from nomaflow.engine.steps.http.options import METHODS, BasicAuth, BearerAuth, HttpOptions, redact_options
from nomaflow.engine.steps.http.status import parse_expected_status, retry_after_seconds
from nomaflow.engine.steps.http.step import SAFE_METHODS, HttpStep

__all__ = [
    "DEFAULT_RESPONSE_HEADERS",
    "METHODS",
    "SAFE_METHODS",
    "BasicAuth",
    "BearerAuth",
    "HostNotAllowed",
    "HostRule",
    "HttpOptions",
    "HttpStep",
    "parse_expected_status",
    "parse_host_rule",
    "redact_options",
    "retry_after_seconds",
    "with_params",
]
