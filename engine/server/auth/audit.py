"""The audit trail of operator actions (run, abort, retry, pause, resume, login) on the
`nomaflow.audit` logger: one line each, saying who (token subject and role, and through what), did
what, to what, and how it went. Run actions are also written into the run's own log (ly2_job_logs)."""

from __future__ import annotations

import logging
from typing import Any

from nomaflow.engine.server.auth.tokens import Principal

log = logging.getLogger("nomaflow.audit")


def who(principal: Principal, client: str | None) -> dict[str, Any]:
    """The fields that say who acted, as kept in the run's log line."""
    via = {"user": "ui", "service": "api", "host": "host"}[principal.kind]
    return {
        "subject": principal.subject,
        "role": principal.role.name,
        "token": principal.kind,
        "via": client or via,
    }


def audit(principal: Principal | None, client: str | None, action: str, **details: Any) -> None:
    if principal is None:
        actor = "anonymous"
    else:
        fields = who(principal, client)
        how = "signed in by the host app" if principal.kind == "host" else f"{principal.kind} token"
        actor = f"{principal.subject} ({fields['role']}, {how}, via {fields['via']})"
    facts = " ".join(f"{key}={value}" for key, value in details.items() if value is not None)
    extra = {"action": action, "details": details}
    # The run and job acted on as top-level fields too, like every record of Nomaflow about a run.
    extra.update({key: details[key] for key in ("run_id", "job") if details.get(key) is not None})
    log.info("%s: %s %s", actor, action, facts, extra=extra)
