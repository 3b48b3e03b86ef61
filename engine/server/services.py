"""What Nomaflow's routes share for one install: its settings, the caller check, the engine while it
runs, idempotency keys, metrics and login limits.

Kept apart from `host.py` (which builds the app and so imports the routes) so that the routes' own
dependencies (deps.py) can import it: imports go host -> routes -> deps -> services, never back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import HTTPException

from nomaflow.engine.config import Install, load_install
from nomaflow.engine.engine import Engine
from nomaflow.engine.server.api.idempotency import IdempotencyKeys
from nomaflow.engine.server.auth.callers import Callers
from nomaflow.engine.server.auth.login_limits import LoginLimiter
from nomaflow.engine.server.auth.password_checks import PasswordChecks
from nomaflow.engine.server.auth.tokens import Tokens
from nomaflow.engine.server.metrics import Metrics


class Services:
    def __init__(self, install: Install | str | Path, environ: Mapping[str, str] | None = None) -> None:
        self.install = install if isinstance(install, Install) else load_install(install)
        settings = self.install.settings
        self.tokens = Tokens(settings.auth, environ)  # a bad [auth] fails here, before serving
        self.callers = Callers(self.tokens)
        limits = settings.auth.login_limits
        self.login_limiter = LoginLimiter(limits)
        self.password_checks = PasswordChecks(slots=limits.hashing_slots, queue=limits.hashing_queue)
        self.metrics = Metrics()
        self._engine: Engine | None = None
        self._idempotency: IdempotencyKeys | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise HTTPException(503, "the engine is not running")
        return self._engine

    @property
    def idempotency(self) -> IdempotencyKeys:
        if self._idempotency is None:
            raise HTTPException(503, "the engine is not running")
        return self._idempotency
