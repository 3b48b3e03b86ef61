"""One hop of an http step on the wire: the request built from the options (or described, in a dry
run), sent, and its response read up to the cap and turned into the step's output or a failure."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.templating import REDACTED
from nomaflow.engine.steps.http.options import BasicAuth, BearerAuth, HttpOptions
from nomaflow.engine.steps.http.status import retry_after_seconds
from nomaflow.engine.steps.redaction import (
    basic_credentials,
    is_secret_name,
    redact_names,
    redact_url,
    shown_url,
)
from nomaflow.engine.telemetry.trace_context import inject_trace_context

# Response headers every output carries; `response_headers` adds others.
DEFAULT_RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "location",
    "retry-after",
)
_BODY_PREVIEW_CHARS = 300


def build_request(client: httpx.AsyncClient, step: str, method: str, options: HttpOptions) -> httpx.Request:
    headers = dict(options.headers)
    names = {name.lower() for name in headers}
    if options.auth is not None and "authorization" not in names:
        headers["Authorization"] = _authorization(options.auth)
    if "accept-encoding" not in names:
        # A compressed body could expand far past the cap in a single chunk; ask for it plain.
        headers["Accept-Encoding"] = "identity"
    inject_trace_context(headers)  # the step attempt's trace, when tracing is on (docs/logging.md)
    params = [
        (key, item)
        for key, value in options.params.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    content: dict[str, Any] = {}
    if options.json is not msgspec.UNSET:
        content["json"] = options.json
    elif options.body is not None:
        content["content"] = options.body
    elif options.form is not None:
        content["data"] = {key: _query_value(value) for key, value in options.form.items()}
    try:
        url = with_params(httpx.URL(options.url), [(key, _query_value(item)) for key, item in params])
        return client.build_request(method, url, headers=headers, **content)
    except (httpx.InvalidURL, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise PermanentStepFailure(f"step '{step}': the request cannot be built: {exc}") from exc


def describe_request(request: httpx.Request, options: HttpOptions) -> dict[str, Any]:
    """The request as a dry run records it, credentials removed."""
    record: dict[str, Any] = {
        "method": request.method,
        "url": redact_url(str(request.url)),
        "headers": {
            name: REDACTED if is_secret_name(name) else value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "content-length", "accept-encoding", "connection")
        },
    }
    if options.json is not msgspec.UNSET:
        record["json"] = redact_names(options.json)
    elif options.form is not None:
        record["form"] = redact_names(options.form)
    elif options.body is not None:
        record["body"] = options.body[:_BODY_PREVIEW_CHARS]
    return record


async def send(ctx: StepContext, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    where = f"{request.method} {shown_url(request.url)}"
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise StepFailure(f"step '{ctx.step}': {where}: timed out ({type(exc).__name__})") from exc
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
        raise PermanentStepFailure(f"step '{ctx.step}': {where}: the request is invalid: {exc}") from exc
    except httpx.TransportError as exc:
        raise StepFailure(
            f"step '{ctx.step}': {where}: {type(exc).__name__}: {exc or 'connection failed'}"
        ) from exc


async def finish(
    ctx: StepContext,
    request: httpx.Request,
    response: httpx.Response,
    expected: list[tuple[int, int]],
    limit: int,
    options: HttpOptions,
) -> dict[str, Any]:
    """The last hop's response as the step's output; raise if its status is not an expected one."""
    where = f"{request.method} {shown_url(request.url)}"
    status = response.status_code
    try:
        body, truncated = await _read_capped(response, limit)
    except httpx.TimeoutException as exc:
        raise StepFailure(f"step '{ctx.step}': {where}: timed out reading the response") from exc
    except httpx.TransportError as exc:
        raise StepFailure(f"step '{ctx.step}': {where}: reading the response failed: {exc}") from exc
    try:
        text = body.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = body.decode("utf-8", errors="replace")
    if not any(low <= status <= high for low, high in expected):
        raise _unexpected(ctx, where, response, text)
    ctx.log.info(
        f"{status} {response.reason_phrase}, {len(body)} bytes"
        + (f" (capped at {limit})" if truncated else "")
    )
    wanted = set(DEFAULT_RESPONSE_HEADERS) | {name.lower() for name in options.response_headers}
    output: dict[str, Any] = {
        "status": status,
        "headers": {name: value for name, value in response.headers.items() if name in wanted},
    }
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not truncated and (content_type == "application/json" or content_type.endswith("+json")) and body:
        try:
            output["json"] = msgspec.json.decode(body)
        except msgspec.DecodeError:
            ctx.log.warning("the response says it is JSON but does not parse; kept as text")
            output["text"] = text
    else:
        output["text"] = text
    if truncated:
        output["truncated"] = True
    return output


def _unexpected(ctx: StepContext, where: str, response: httpx.Response, text: str) -> StepFailure:
    """An unexpected status: 5xx, 408 and 429 are worth another attempt (after any Retry-After)."""
    status = response.status_code
    summary = f"step '{ctx.step}': {where}: {status} {response.reason_phrase}"
    preview = " ".join(text[:_BODY_PREVIEW_CHARS].split())
    if preview:
        summary += f": {preview}"
    if status >= 500 or status in (408, 429):
        wait = retry_after_seconds(response.headers.get("retry-after"), ctx.now())
        return StepFailure(summary, retry_after=wait)
    return PermanentStepFailure(summary)


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body; the rest is never read (the connection is dropped instead)."""
    declared = response.headers.get("content-length", "")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        room = limit - size
        if len(chunk) > room:
            chunks.append(chunk[:room])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
        if size == limit:
            # Exactly at the cap: only more data (or a longer declared length) makes it a truncation.
            more = declared.isdigit() and int(declared) > limit
            if not more:
                async for extra in response.aiter_bytes():
                    if extra:
                        more = True
                        break
            return b"".join(chunks), more
    return b"".join(chunks), False


def _authorization(auth: BearerAuth | BasicAuth) -> str:
    if isinstance(auth, BearerAuth):
        return f"Bearer {auth.token}"
    return f"Basic {basic_credentials(auth.username, auth.password)}"


def with_params(url: httpx.URL, params: list[tuple[str, str]]) -> httpx.URL:
    """`url` with `params` appended to its own query string, which is kept exactly as written (httpx
    would replace it: it drops a URL's query whenever `params=` is given, even empty)."""
    if not params:
        return url
    added = str(httpx.QueryParams(tuple(params))).encode("ascii")
    return url.copy_with(query=url.query + b"&" + added if url.query else added)


def _query_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_query_value(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()
