"""`Nomaflow`: the engine hosted by a FastAPI app — its lifespan, its routes, its Socket.IO server, its UI.

    nomaflow = Nomaflow("app.toml")
    nomaflow.mount(app, "/ops/jobs", auth=role_of)  # REST, Socket.IO, /health, /metrics and the UI

Everything Nomaflow serves is one FastAPI app of its own, mounted under the host's prefix: its body
limit, error answers and catch-all UI route see only requests under that prefix, matched by whole path
segments (Starlette's Mount), so the host's routes keep their own behaviour. `mount` also runs the
engine in the host's lifespan. `nomaflow serve` runs the same app at the root (app.py).

While it runs, the log handlers the process has are given Nomaflow's secret filter (engine.log_redaction),
unless `redact_logs=False`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI

from nomaflow.engine.config import Install
from nomaflow.engine.engine import Engine
from nomaflow.engine.server.api.idempotency import IdempotencyKeys
from nomaflow.engine.server.api.outage import add_outage_handlers
from nomaflow.engine.server.api.routes import DESCRIPTION, TITLE, VERSION, include_routes
from nomaflow.engine.server.auth.callers import HostAuth
from nomaflow.engine.server.limits import BodyLimit
from nomaflow.engine.server.realtime.socketio import Realtime
from nomaflow.engine.server.services import Services
from nomaflow.engine.server.spa import mount_spa
from nomaflow.engine.steps.redaction import Scrubber
from nomaflow.engine.store import StoreUnusable
from nomaflow.engine.telemetry.fields import attach_step_fields
from nomaflow.engine.telemetry.secret_filter import SecretFilter, attach, known_secrets

_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")


class Nomaflow(Services):
    def __init__(
        self,
        install: Install | str | Path,
        *,
        environ: Mapping[str, str] | None = None,
        redact_logs: bool = True,
        **engine_options: Any,
    ) -> None:
        _check_engine_options(engine_options)
        super().__init__(install, environ)
        settings = self.install.settings
        known = known_secrets(self.install)
        if self.tokens.secret:
            known = known | Scrubber([self.tokens.secret])
        self.log_filter = SecretFilter(known)
        self._redact_logs = redact_logs
        self.realtime = Realtime(
            self.callers,
            redis_url=settings.server.socketio_redis_url,
            redis_channel=settings.server.socketio_redis_channel,
            cors_origins=settings.server.cors_origins,
            max_payload_bytes=settings.server.max_body_bytes,
            metrics=self.metrics,
        )
        self._engine_options = engine_options
        self.app: FastAPI | None = None  # Nomaflow's own app, once built by mount() or create_app()

    def mount(
        self, app: FastAPI, prefix: str, *, auth: HostAuth | None = None, lifespan: bool = True
    ) -> FastAPI:
        """Serve everything under `prefix` of `app`: the REST API (`<prefix>/admin/...`), Socket.IO
        (`<prefix>/socket.io/`), `<prefix>/health`, `<prefix>/metrics` and the web UI (`<prefix>/`).

        `auth`: the host's own sign-in, a callable given the request (a Starlette `HTTPConnection`) that
        answers a `Principal` or None; without it, Nomaflow's own tokens and users decide. `lifespan`:
        start the engine when `app` starts and stop it when it stops (after your own lifespan has
        started, before it ends); False if you run `nomaflow.running(app)` in your lifespan yourself.
        Answers Nomaflow's own app, as mounted."""
        _check_prefix(prefix)
        own = self._build(lifespan=None)
        self.callers.host_auth = auth
        app.mount(prefix, own)
        if lifespan:
            outer = app.router.lifespan_context

            @asynccontextmanager
            async def with_nomaflow(host_app: Any) -> AsyncIterator[Any]:
                async with outer(host_app) as state, self.running(app):
                    yield state

            app.router.lifespan_context = with_nomaflow
        return own

    def standalone_app(self) -> FastAPI:
        """Nomaflow on an app of its own, served at the root, its lifespan running the engine."""
        return self._build(lifespan=self.lifespan)

    def _build(self, lifespan: Any) -> FastAPI:
        if self.app is not None:
            raise RuntimeError(
                "this Nomaflow object already serves an app: create another Nomaflow(...) for another app"
            )
        app = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION, lifespan=lifespan)
        app.state.nomaflow_host = self
        include_routes(app)
        app.mount("/socket.io", self.realtime.asgi)
        add_outage_handlers(app)
        app.add_middleware(BodyLimit, max_bytes=self.install.settings.server.max_body_bytes)
        mount_spa(app)  # the web UI: after every other route, as it catches the rest
        self.app = app
        return app

    @asynccontextmanager
    async def running(self, app: FastAPI | None = None) -> AsyncIterator[Engine]:
        """Start the engine and the live event bridge; stop both (gracefully) on exit. A store that
        cannot be used fails start-up with StoreUnusable as it is (not inside an ExceptionGroup).
        While it runs, the engine is also `app.state.nomaflow`."""
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


def _check_engine_options(options: Mapping[str, Any]) -> None:
    """Refused here, not when the engine starts in the lifespan, far from the mistake."""
    accepted = [name for name in inspect.signature(Engine).parameters if name != "install"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        moved = " (the prefix is given to mount(app, prefix) now)" if "prefix" in unknown else ""
        raise TypeError(
            f"Nomaflow() got unknown option(s) {', '.join(unknown)}{moved}; besides environ and "
            f"redact_logs it passes these on to the engine: {', '.join(accepted)}"
        )


def _check_prefix(prefix: object) -> None:
    segments = prefix.split("/")[1:] if isinstance(prefix, str) and prefix.startswith("/") else []
    if not segments or any(not _SEGMENT.match(part) or part in (".", "..") for part in segments):
        raise ValueError(
            "mount(app, prefix): the prefix must be a path of one or more segments of letters, digits, "
            f"'.', '_', '~' or '-', such as '/ops/jobs' (a leading '/', no trailing '/'), not {prefix!r}"
        )
