"""What route handlers are given: Nomaflow's services, the engine, and the caller checked against a
role; and the error answers those checks add to every route's documentation. The one module the API
modules import for them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nomaflow.engine.engine import Engine
from nomaflow.engine.server.api.schemas import Problem
from nomaflow.engine.server.auth.callers import HostAuthError
from nomaflow.engine.server.auth.tokens import AuthError, Principal, Role
from nomaflow.engine.server.services import Services

log = logging.getLogger("nomaflow.server")

bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from POST /admin/login (UI users) or `nomaflow token create` (services).",
)

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or a bad one."},
    403: {"model": Problem, "description": "The token's role is too low."},
}


def services_of(request: Request) -> Services:
    services = getattr(request.app.state, "nomaflow_host", None)
    if not isinstance(services, Services):
        raise HTTPException(503, "Nomaflow is not mounted on this app")
    return services


Host = Annotated[Services, Depends(services_of)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _engine(host: Host) -> Engine:
    return host.engine


EngineDep = Annotated[Engine, Depends(_engine)]


async def identify(host: Services, request: Request, credentials: Credentials) -> Principal:
    """The caller, or AuthError saying why it is not known; a broken host auth callable is a 500."""
    try:
        return await host.callers.identify(request, credentials.credentials if credentials else None)
    except HostAuthError as exc:
        log.error("%s", exc)
        raise HTTPException(500, str(exc)) from None


async def authorize(host: Services, request: Request, credentials: Credentials, role: Role) -> Principal:
    """The caller if it has `role`: 401 when it is not known, 403 when its role is too low."""
    try:
        principal = await identify(host, request, credentials)
    except AuthError as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
    if not principal.can(role):
        raise HTTPException(
            403, f"this needs the {role.name} role; '{principal.subject}' has the {principal.role.name} role"
        )
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(host: Host, request: Request, credentials: Credentials) -> Principal:
        return await authorize(host, request, credentials, role)

    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Admin = Annotated[Principal, Depends(require(Role.admin))]


# The remote CLI says so, and its runs are recorded as `cli:<token subject>`. The name always comes
# from the token, so the header can choose the label but never whose name is on it.
def _client(
    x_nomaflow_client: Annotated[
        Literal["cli"] | None,
        Header(
            alias="X-Nomaflow-Client",
            description="`cli` from the Nomaflow CLI: its runs are recorded as triggered by `cli:<subject>`.",
        ),
    ] = None,
) -> str | None:
    return x_nomaflow_client


Client = Annotated[str | None, Depends(_client)]
