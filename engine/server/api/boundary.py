"""How every Nomaflow route meets bad input: a body that is not JSON is a 415, JSON that is not UTF-8 or
is malformed a 422, and every error answer is valid JSON whatever the request held (raw bytes, lone
surrogates), so that rendering an error can never turn it into a 500.

`BoundaryRoute` is the route class of Nomaflow's routers: it applies to Nomaflow's own routes only,
never to the routes of an app that mounts them (docs/embedding.md).
"""

from __future__ import annotations

import email.message
import json
import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from nomaflow.actors.jsonable import escaped
from nomaflow.engine.server.api.schemas import Problem

JSON_MEDIA_TYPE = "application/json"
_NO_BODY_STATUSES = range(100, 200)

# For the OpenAPI document of each route that reads a body.
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    415: {"model": Problem, "description": "The body is not sent as JSON (Content-Type: application/json)."}
}


def _plain(value: Any) -> Any:
    """`value` as JSON data that always encodes: text escaped where it is not Unicode, bytes shown as
    text, anything else by its str(). An error echoes what it was sent, and that may be anything."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, bytes | bytearray):
        return escaped(bytes(value).decode("utf-8", "backslashreplace"))
    if isinstance(value, Mapping):
        return {str(_plain(key)): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return escaped(str(value))


class ProblemResponse(Response):
    """An error answer: `{"detail": ...}`, rendered from plain data only."""

    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(_plain(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def problem(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> Response:
    if status in _NO_BODY_STATUSES or status in (204, 304):
        return Response(status_code=status, headers=headers)
    return ProblemResponse({"detail": detail}, status_code=status, headers=headers)


def _body_error(message: str) -> Response:
    return problem(422, [{"loc": ["body"], "msg": message, "type": "json_invalid"}])


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    is_json = subtype == "json" or subtype.endswith("+json")
    return message.get_content_maintype() == "application" and is_json


async def _refuse_body(request: Request) -> Response | None:
    """The answer to a body this API cannot read, before FastAPI tries to; None when it can."""
    body = await request.body()
    if not body:
        return None  # every body of this API is optional or has its own "field required" error
    content_type = request.headers.get("content-type")
    if not content_type or not _is_json(content_type):
        got = f"Content-Type: {content_type}" if content_type else "no Content-Type"
        return problem(
            415, f"the request body must be JSON, sent with Content-Type: application/json ({got})"
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _body_error(
            f"the body is not UTF-8: byte {body[exc.start]:#04x} at position {exc.start} (JSON must be UTF-8)"
        )
    return None


class BoundaryRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        takes_body = self.body_field is not None

        async def route(request: Request) -> Response:
            try:
                if takes_body and (refusal := await _refuse_body(request)) is not None:
                    return refusal
                return await handle(request)
            except RequestValidationError as exc:
                return problem(422, exc.errors())
            except HTTPException as exc:
                if isinstance(exc.__cause__, RecursionError):
                    # FastAPI's "There was an error parsing the body": JSON deeper than Python parses.
                    return _body_error("the JSON body is nested too deeply to be read")
                return problem(exc.status_code, exc.detail, exc.headers)

        return route
