"""Request body size limit for Nomaflow's paths: 413 before a large body is read, or as soon as a
streamed one (no Content-Length) goes over. A plain ASGI middleware, so the limit also covers Socket.IO
long-polling posts.

It wraps Nomaflow's own app only (host.py): mounted in a host application, it sees the requests under
Nomaflow's prefix, matched by whole path segments, and nothing of the host's (`/administration/upload`
is not under `/admin`, nor `/ops/jobsite` under `/ops/jobs`)."""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {limit} bytes this server accepts")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._answer(send, 400, "the Content-Length header is not a number of bytes")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, so this becomes
                    # a 413 response from the app's own exception handling.
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await self._answer(send, 413, BodyTooLarge(self.max_bytes).detail)

    async def _answer(self, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
