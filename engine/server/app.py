"""The FastAPI application `nomaflow serve` runs, and the lifespan for apps that only want the engine.

To put Nomaflow inside an existing FastAPI app, use `Nomaflow(...).mount(app, prefix)` (docs/embedding.md);
`create_app` is the same app, served at the root of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from nomaflow.engine.config import Install, load_install
from nomaflow.engine.engine import Engine
from nomaflow.engine.server.host import Nomaflow


def nomaflow_lifespan(
    install: Install | str | Path, **engine_options: Any
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that only starts the engine with the app (no routes) and stops it with it; the engine
    is `app.state.nomaflow`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = install if isinstance(install, Install) else load_install(install)
        async with Engine(loaded, **engine_options) as engine:
            app.state.nomaflow = engine
            yield

    return lifespan


def create_app(install: Install | str | Path | Nomaflow, **engine_options: Any) -> FastAPI:
    """Nomaflow on an app of its own: the UI at /, REST under /admin, /health, /metrics, Socket.IO at
    /socket.io; the app's lifespan runs the engine."""
    host = install if isinstance(install, Nomaflow) else Nomaflow(install, **engine_options)
    return host.standalone_app()
