"""Who is calling, for REST and Socket.IO alike: the host application's own sign-in when it plugs one in,
Nomaflow's tokens otherwise (and as well, for the CLI and scripts).

A host plugs in a callable that is given the caller's connection (a Starlette `HTTPConnection`: the
`Request` of a REST call, the handshake of a Socket.IO connection) and answers a `Principal` or None.
The same callable guards every route and every live connection, so the host decides once.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection

from nomaflow.engine.server.auth.tokens import AuthError, Principal, Tokens

log = logging.getLogger("nomaflow.server")

# The host's sign-in: the connection -> who it is with which role, or None for "not signed in here".
HostAuth = Callable[[HTTPConnection], Awaitable[Principal | None] | Principal | None]

NOT_SIGNED_IN = "not signed in: the host application did not recognise this request"


class HostAuthError(Exception):
    """The host's auth callable broke or answered something that is not a Principal (a server error)."""


class Callers:
    """Turns a connection (and the bearer token it carries, if any) into a Principal, or AuthError."""

    def __init__(self, tokens: Tokens, host_auth: HostAuth | None = None) -> None:
        self.tokens = tokens
        self.host_auth = host_auth

    async def identify(self, connection: HTTPConnection, token: str | None) -> Principal:
        """The caller. With a host sign-in, the host is asked first; when it answers None, a Nomaflow
        token (from `nomaflow token create`) is still accepted, so the CLI and scripts keep working.
        An HTTPException the host raises (its own 401, 403 or redirect) goes through as it is."""
        if self.host_auth is None:
            return self.tokens.verify(token)
        found = await self._ask_host(connection)
        if found is not None:
            return found
        if token and self.tokens.configured:
            return self.tokens.verify(token)
        raise AuthError(NOT_SIGNED_IN)

    async def _ask_host(self, connection: HTTPConnection) -> Principal | None:
        assert self.host_auth is not None
        answer = self.host_auth(connection)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is not None and not isinstance(answer, Principal):
            raise HostAuthError(
                f"the auth callable given to Nomaflow's mount() answered {type(answer).__name__}: "
                "it must answer a nomaflow.Principal (who, with which role) or None (not signed in)"
            )
        return answer
