"""/health and /metrics: for load balancers and Prometheus, beside /admin under the same prefix."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from nomaflow.engine.server.api.boundary import BoundaryRoute
from nomaflow.engine.server.api.schemas import HealthOut, Problem, StoreOut
from nomaflow.engine.server.auth.tokens import Role
from nomaflow.engine.server.deps import Credentials, EngineDep, Host, authorize
from nomaflow.engine.server.metrics import CONTENT_TYPE

router = APIRouter(tags=["system"], route_class=BoundaryRoute)


@router.get("/health", response_model=HealthOut, responses={503: {"model": Problem}})
async def health(engine: EngineDep) -> HealthOut:
    """Liveness: the engine is up; how many runs it has in flight; whether it runs the scheduler; and
    whether the job store takes writes (`degraded` while it does not: the engine recovers by itself,
    so this stays 200; 503 only when the engine is not running)."""
    store = engine.store_health
    status: Literal["ok", "degraded"] = "ok" if store.ok else "degraded"
    return HealthOut(
        status=status,
        instance=engine.instance_id,
        scheduler=engine.scheduler_running,
        in_flight=len(engine.in_flight()),
        jobs=len(engine.jobs),
        store=StoreOut(status=status, reason=store.reason, since=store.since),
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."}},
)
async def metrics(host: Host, request: Request, credentials: Credentials) -> Response:
    """Runs by job and status, step durations, runs in flight, scheduler leadership, Socket.IO clients.
    Open like /health, unless `[server] metrics_auth = true` (then a viewer is needed)."""
    if host.install.settings.server.metrics_auth:
        await authorize(host, request, credentials, Role.viewer)
    _ = host.engine  # 503 while the engine is not running
    return Response(host.metrics.render(), media_type=CONTENT_TYPE)
