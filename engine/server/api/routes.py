"""Every REST route, and the OpenAPI document they make (docs/openapi.json; engine/server/openapi.py)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from nomaflow.engine.server.api import jobs, login, runs, system

ROUTERS = (system.router, login.router, jobs.router, runs.router)
TITLE = "Nomaflow"
VERSION = "1"
DESCRIPTION = """\
Nomaflow's REST API: the declared jobs, their runs, live state and operator actions.

Every `/admin` route but `/admin/login` needs a bearer JWT (`Authorization: Bearer <token>`) with a role:
**viewer** reads, **operator** also runs, aborts and retries, **admin** also pauses and resumes jobs.
Live events are on Socket.IO at `/socket.io` (see docs/socketio.md).
"""


def include_routes(app: FastAPI, prefix: str = "") -> None:
    for router in ROUTERS:
        app.include_router(router, prefix=prefix)


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as `nomaflow serve` publishes it at /openapi.json."""
    app = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION)
    include_routes(app)
    return app.openapi()
