"""The FastAPI application: the engine runs in its lifespan, beside the routes that expose it.

`create_app(install)` is what `nomaflow serve` runs. An existing FastAPI app can host Nomaflow instead
by using `nomaflow_lifespan(install)` as (or inside) its lifespan and reading `app.state.nomaflow`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from engine.config import Install, load_install
from engine.engine import Engine


def nomaflow_lifespan(
    install: Install | str | Path, **engine_options: Any
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that starts the engine with the app and stops it (gracefully) with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = install if isinstance(install, Install) else load_install(install)
        async with Engine(loaded, **engine_options) as engine:
            app.state.nomaflow = engine
            yield

    return lifespan


def create_app(install: Install | str | Path, **engine_options: Any) -> FastAPI:
    app = FastAPI(title="Nomaflow", lifespan=nomaflow_lifespan(install, **engine_options))

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """Liveness: the engine is up; how many runs it has in flight; whether it schedules."""
        engine: Engine = request.app.state.nomaflow
        return {
            "status": "ok",
            "instance": engine.instance_id,
            "scheduler": engine.scheduler_running,
            "in_flight": len(engine.in_flight()),
            "jobs": len(engine.jobs),
        }

    return app
