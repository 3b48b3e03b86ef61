"""`Nomaflow`: the engine hosted by a FastAPI app — its lifespan, its routes, its Socket.IO server.

    nomaflow = Nomaflow("app.toml")
    app = FastAPI(lifespan=nomaflow.lifespan)
    nomaflow.mount(app)  # REST under /admin, /health, /metrics, Socket.IO at /socket.io

One object per app, holding everything the routes need; the routes find it on `app.state.nomaflow_host`.
While it runs, the log handlers the process has are given Nomaflow's secret filter (engine.log_redaction),
unless `redact_logs=False`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request

from nomaflow.engine.config import Install, load_install
from nomaflow.engine.engine import Engine
from nomaflow.engine.server.api.idempotency import IdempotencyKeys
from nomaflow.engine.server.api.outage import add_outage_handlers
from nomaflow.engine.server.auth.login_limits import LoginLimiter
from nomaflow.engine.server.auth.password_checks import PasswordChecks
from nomaflow.engine.server.auth.tokens import Tokens
from nomaflow.engine.server.limits import BodyLimit
from nomaflow.engine.server.metrics import Metrics
from nomaflow.engine.server.realtime.socketio import Realtime
from nomaflow.engine.steps.redaction import Scrubber
from nomaflow.engine.store import StoreUnusable
from nomaflow.engine.telemetry.fields import attach_step_fields
from nomaflow.engine.telemetry.secret_filter import SecretFilter, attach, known_secrets


class Nomaflow:
    def __init__(
        self,
        install: Install | str | Path,
        *,
        prefix: str = "",
        environ: Mapping[str, str] | None = None,
        redact_logs: bool = True,
        **engine_options: Any,
    ) -> None:
        self.install = install if isinstance(install, Install) else load_install(install)
        settings = self.install.settings
        self.prefix = prefix.rstrip("/")
        self.tokens = Tokens(settings.auth, environ)  # a bad [auth] fails here, before serving
        known = known_secrets(self.install)
        if self.tokens.secret:
            known = known | Scrubber([self.tokens.secret])
        self.log_filter = SecretFilter(known)
        self._redact_logs = redact_logs
        limits = settings.auth.login_limits
        self.login_limiter = LoginLimiter(limits)
        self.password_checks = PasswordChecks(slots=limits.hashing_slots, queue=limits.hashing_queue)
        self.metrics = Metrics()
        self.realtime = Realtime(
            self.tokens,
            redis_url=settings.server.socketio_redis_url,
            redis_channel=settings.server.socketio_redis_channel,
            cors_origins=settings.server.cors_origins,
            max_payload_bytes=settings.server.max_body_bytes,
            metrics=self.metrics,
        )
        self._engine_options = engine_options
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

    @property
    def socketio_path(self) -> str:
        return f"{self.prefix}/socket.io"

    def mount(self, app: FastAPI) -> None:
        """Add Nomaflow's routes and Socket.IO endpoint to `app` (whose lifespan must run `running`)."""
        from nomaflow.engine.server.api.routes import include_routes

        app.state.nomaflow_host = self
        include_routes(app, self.prefix)
        app.mount(self.socketio_path, self.realtime.asgi)
        add_outage_handlers(app, (f"{self.prefix}/admin", f"{self.prefix}/health", f"{self.prefix}/metrics"))
        # Only Nomaflow's own paths are limited: the host app's routes keep whatever limits it has.
        app.add_middleware(
            BodyLimit,
            max_bytes=self.install.settings.server.max_body_bytes,
            prefixes=(f"{self.prefix}/admin", self.socketio_path),
        )

    @asynccontextmanager
    async def running(self, app: FastAPI | None = None) -> AsyncIterator[Engine]:
        """Start the engine and the live event bridge; stop both (gracefully) on exit. A store that
        cannot be used fails start-up with StoreUnusable as it is (not inside an ExceptionGroup)."""
        detach = attach(self.log_filter) if self._redact_logs else None
        detach_fields = attach_step_fields()  # run_id, job, step on the records of steps
        try:
            async with self._running(app) as engine:
                yield engine
        finally:
            detach_fields()
            if detach is not None:
                detach()

    @asynccontextmanager
    async def _running(self, app: FastAPI | None) -> AsyncIterator[Engine]:
        unusable: StoreUnusable | None = None
        async with anyio.create_task_group() as group:
            try:
                async with Engine(self.install, **self._engine_options) as engine:
                    self.metrics.attach(engine)
                    self._idempotency = IdempotencyKeys(
                        engine.store,
                        engine.clock,
                        hours=self.install.settings.server.idempotency_hours,
                    )
                    await group.start(self.realtime.run, engine)
                    self._engine = engine
                    if app is not None:
                        app.state.nomaflow = engine
                    try:
                        yield engine
                    finally:
                        self._engine = None
            except StoreUnusable as exc:
                unusable = exc  # nothing was started: raised once out of the task group
            else:
                # The engine has stopped, so the last runs' final events are queued: send them, then close.
                await self.realtime.close()
        if unusable is not None:
            raise unusable

    def lifespan(self, app: FastAPI) -> AbstractAsyncContextManager[Any]:
        """Use as `FastAPI(lifespan=nomaflow.lifespan)`; inside your own lifespan, use `running(app)`."""
        return self._lifespan(app)

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        async with self.running(app):
            yield


def host_of(request: Request) -> Nomaflow:
    host = getattr(request.app.state, "nomaflow_host", None)
    if not isinstance(host, Nomaflow):
        raise HTTPException(503, "Nomaflow is not mounted on this app")
    return host
