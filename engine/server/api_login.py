"""POST /admin/login: a UI user (from app.toml's [auth.users]) trades a password for a token."""

from __future__ import annotations

from datetime import timedelta

import anyio
from fastapi import APIRouter, HTTPException

from nomaflow.engine.server.audit import audit
from nomaflow.engine.server.auth import AuthError, Principal
from nomaflow.engine.server.boundary import BoundaryRoute
from nomaflow.engine.server.deps import Host
from nomaflow.engine.server.schemas import LoginIn, Problem, TokenOut

router = APIRouter(prefix="/admin", tags=["auth"], route_class=BoundaryRoute)


@router.post("/login", response_model=TokenOut, responses={401: {"model": Problem}})
async def login(body: LoginIn, host: Host) -> TokenOut:
    """Check a UI user's password; answer a `user` token valid for `[auth] login_ttl_seconds`. Runs
    triggered with it are recorded as `user:<username>`."""
    tokens = host.tokens
    if not tokens.configured:
        raise HTTPException(401, "authentication is not configured on this server: set [auth] secret")
    # argon2 is slow on purpose: verify in a worker thread, so the event loop keeps serving.
    role = await anyio.to_thread.run_sync(tokens.check_password, body.username, body.password)
    if role is None:
        audit(None, None, "login refused", user=body.username)
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    now = host.engine.clock.now()
    ttl = timedelta(seconds=host.install.settings.auth.login_ttl_seconds)
    try:
        token = tokens.issue(body.username, role, "user", ttl, now)
    except (AuthError, ValueError) as exc:
        raise HTTPException(401, str(exc)) from None
    audit(Principal(body.username, role, "user"), None, "login", ttl_seconds=int(ttl.total_seconds()))
    return TokenOut(
        access_token=token,
        expires_at=now + ttl,
        subject=body.username,
        role=role.name,  # type: ignore[arg-type]
    )
