"""How the API answers while the job store is unavailable: 503 with Retry-After, never a 500.

A trigger refused because the store cannot take writes (StoreUnavailable), and a read or a write of a
route that meets a store that is down, restarting, full or read-only (see engine.store.faults), answer
503 with a `Retry-After` header and a sentence saying why. The handlers belong to Nomaflow's own app
(host.py), so a host application that mounts it keeps whatever error handling its routes have.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.engine.engine import RETRY_AFTER_SECONDS
from nomaflow.engine.store.faults import transient_reason

log = logging.getLogger("nomaflow.server")


def add_outage_handlers(app: FastAPI) -> None:
    """Answer store outages on `app`'s routes with 503 + Retry-After."""

    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StoreUnavailable)
        return _answer(str(error), error.retry_after)

    async def database_error(request: Request, error: Exception) -> JSONResponse:
        reason = transient_reason(error)
        if reason is None:
            raise error
        return _answer(f"the job store is unavailable ({reason}); try again later", None)

    app.add_exception_handler(StoreUnavailable, unavailable)
    for kind in (DBAPIError, OSError, TimeoutError):
        app.add_exception_handler(kind, database_error)


def _answer(detail: str, retry_after: float | None) -> JSONResponse:
    seconds = max(1, math.ceil(retry_after if retry_after is not None else RETRY_AFTER_SECONDS))
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(seconds)})
