"""POST /admin/login: a UI user (from app.toml's [auth.users]) trades a password for a token.
GET /admin/session: who the server takes the caller to be (so the UI knows when the host application
has signed its user in).

Guessing is slowed down before any password is hashed: per username and per address (login_limits.py),
and by the bound on password checks in flight (password_checks.py). Both answer 429 with Retry-After.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request

from nomaflow.engine.server.api.boundary import BODY_ERRORS, BoundaryRoute
from nomaflow.engine.server.api.schemas import LoginIn, Problem, SessionOut, TokenOut
from nomaflow.engine.server.auth.audit import audit
from nomaflow.engine.server.auth.login_limits import Refusal
from nomaflow.engine.server.auth.password_checks import Busy
from nomaflow.engine.server.auth.tokens import AuthError, Principal
from nomaflow.engine.server.deps import Credentials, Host, identify

router = APIRouter(prefix="/admin", tags=["auth"], route_class=BoundaryRoute)

# Not an address (a Unix socket, an ASGI test client): such callers share one count.
UNKNOWN_ADDRESS = "unknown"


@router.post(
    "/login",
    response_model=TokenOut,
    responses={
        401: {"model": Problem, "description": "Wrong username or password (the same answer for both)."},
        429: {
            "model": Problem,
            "description": "Too many failed logins for this username or from this address, or too many "
            "password checks waiting; Retry-After says when to try again.",
        },
        **BODY_ERRORS,
    },
)
async def login(body: LoginIn, host: Host, request: Request) -> TokenOut:
    """Check a UI user's password; answer a `user` token valid for `[auth] login_ttl_seconds`. Runs
    triggered with it are recorded as `user:<username>`."""
    tokens = host.tokens
    if not tokens.configured:
        raise HTTPException(401, "authentication is not configured on this server: set [auth] secret")
    clock = host.engine.clock
    address = request.client.host if request.client else UNKNOWN_ADDRESS
    attempt = host.login_limiter.admit(body.username, address, clock.now())
    if isinstance(attempt, Refusal):
        audit(None, None, "login throttled", user=body.username, address=address, scope=attempt.scope)
        raise HTTPException(429, attempt.message, headers={"Retry-After": attempt.retry_after_header})
    try:
        # argon2 is slow on purpose: it runs in a worker thread, so the event loop keeps serving.
        role = await host.password_checks.run(tokens.check_password, body.username, body.password)
    except Busy:
        attempt.abandoned()
        audit(None, None, "login turned away", user=body.username, address=address)
        raise HTTPException(
            429, "too many logins are being checked right now: try again in 1 s", headers={"Retry-After": "1"}
        ) from None
    except BaseException:
        attempt.abandoned()
        raise
    if role is None:
        attempt.failed(clock.now())
        audit(None, None, "login refused", user=body.username, address=address)
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    attempt.succeeded()
    now = clock.now()
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


@router.get("/session", response_model=SessionOut)
async def session(host: Host, request: Request, credentials: Credentials) -> SessionOut:
    """Who the server takes the caller to be, if anyone (never a 401: not being signed in is an answer
    here), and which ways to sign in it offers. The UI asks on start-up when it holds no token of its
    own: a caller signed in by the host application needs no Nomaflow sign-in form."""
    settings = host.install.settings.auth
    offers = {
        "password_sign_in": host.tokens.configured and bool(settings.users),
        "host_sign_in": host.callers.host_auth is not None,
    }
    try:
        caller = await identify(host, request, credentials)
    except AuthError as exc:
        return SessionOut.model_validate({"signed_in": False, "reason": str(exc), **offers})
    seen = {"subject": caller.subject, "role": caller.role.name, "kind": caller.kind}
    return SessionOut.model_validate({"signed_in": True, **seen, **offers})
