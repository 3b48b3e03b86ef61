"""What route handlers are given: the host, the engine, and the caller checked against a role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Depends, Header, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nomaflow.engine.engine import Engine
from nomaflow.engine.server.auth.tokens import AuthError, Principal, Role
from nomaflow.engine.server.host import Nomaflow, host_of

bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from POST /admin/login (UI users) or `nomaflow token create` (services).",
)

Host = Annotated[Nomaflow, Depends(host_of)]


def _engine(host: Host) -> Engine:
    return host.engine


EngineDep = Annotated[Engine, Depends(_engine)]


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(
        host: Host, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        try:
            principal = host.tokens.verify(credentials.credentials if credentials else None)
        except AuthError as exc:
            raise HTTPException(
                401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        if not principal.can(role):
            raise HTTPException(
                403, f"this needs the {role.name} role; the token's subject is {principal.role.name}"
            )
        return principal

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
