"""The `http` step: one HTTP request with httpx, its response (status, some headers, a capped body) as output.

Safety comes first: every hop, redirects included, must go to a host in `[http] allowed_hosts`; the body
is streamed and never read past the cap; connection errors, timeouts, 5xx and 429 are retryable (a
Retry-After is passed to the retry policy) while other unexpected statuses fail at once; a dry run sends
GET, HEAD and OPTIONS only and records what it would have sent otherwise; credentials are removed from
everything that is stored or logged (engine.steps.redaction; the executor scrubs what `secrets` names).

Cookies live with a run: a `Set-Cookie` answered to one of its steps is sent by its later steps (a login
step, then a call), never by another run's. One client (one connection pool) serves every run; its own
jar refuses every cookie, and each run's jar is applied hop by hop.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.model import HttpSettings
from nomaflow.engine.config.templating import REDACTED, references
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.redaction import (
    NO_SECRETS,
    Scrubber,
    basic_credentials,
    is_secret_name,
    redact_names,
    redact_url,
    scrub_error,
    shown_url,
)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Requests a dry run still sends: they change nothing on the server, and later steps may need the answer.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Response headers every output carries; `response_headers` adds others.
DEFAULT_RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "location",
    "retry-after",
)
_STATUS_RANGE = re.compile(r"^([1-5])xx$|^(\d{3})\s*-\s*(\d{3})$|^(\d{3})$", re.IGNORECASE)
_BODY_PREVIEW_CHARS = 300
# Runs whose cookies are kept at once. A run's jar goes when the run ends; this bounds what is kept should
# an end never be announced (the oldest jar goes first).
_MAX_COOKIE_JARS = 10_000


class BearerAuth(msgspec.Struct, tag="bearer", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    token: str


class BasicAuth(msgspec.Struct, tag="basic", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    username: str
    password: str


class HttpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str
    method: str = "GET"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    params: dict[str, Any] = msgspec.field(default_factory=dict)  # the query string
    json: Any = msgspec.UNSET  # at most one of json, body and form
    body: str | None = None
    form: dict[str, Any] | None = None
    auth: BearerAuth | BasicAuth | None = None
    expected_status: int | str | list[int | str] = "2xx"  # 200, "2xx", "200-204", or a list of them
    follow_redirects: bool = True
    max_response_bytes: int | None = None  # defaults to [http] max_response_bytes
    response_headers: list[str] = msgspec.field(
        default_factory=list
    )  # kept in the output beside the defaults


class HostNotAllowed(Exception):
    pass


# --- which hosts a step may reach -----------------------------------------------------------------


class HostRule(msgspec.Struct, frozen=True):
    host: str  # lower case; "*" is any host; "*.example.com" is any subdomain of example.com
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


def parse_host_rule(pattern: str) -> HostRule:
    """ "api.example.com", "*.example.com", "127.0.0.1:8080", "[::1]:8080" or "*"; raise ValueError."""
    text = pattern.strip().lower().rstrip(".")
    if not text:
        raise ValueError("an empty host pattern")
    if "/" in text or "@" in text:
        raise ValueError(f"'{pattern}' is not a host: write the host name only, as in 'api.example.com'")
    port: int | None = None
    if text.startswith("["):  # an IPv6 literal, maybe with a port
        end = text.find("]")
        if end < 0:
            raise ValueError(f"'{pattern}': unclosed '['")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"'{pattern}': expected ':<port>' after ']'")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"'{pattern}': the port must be a number")
        port = int(port_text)
    else:
        host = text
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"'{pattern}': port {port} is out of range")
    if "*" in host and host != "*" and not (host.startswith("*.") and "*" not in host[2:] and len(host) > 2):
        raise ValueError(
            f"'{pattern}': '*' may only stand alone or as the first label, as in '*.example.com'"
        )
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return HostRule(host, port)


def _host_and_port(url: httpx.URL) -> tuple[str, int]:
    host = url.raw_host.decode("ascii").lower().rstrip(".")
    port = url.port or (443 if url.scheme == "https" else 80)
    return host, port


# --- status codes ----------------------------------------------------------------------------------


def parse_expected_status(value: int | str | list[int | str]) -> list[tuple[int, int]]:
    """Inclusive (low, high) ranges from 200, "2xx", "200-204" or a list of them; raise ValueError."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("expected at least one status code or range")
    ranges: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        where = f"[{index}] " if isinstance(value, list) else ""
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ValueError(
                f"{where}expected a status code such as 200, or a range such as '2xx' or '200-204'"
            )
        if isinstance(item, int):
            low = high = item
        else:
            match = _STATUS_RANGE.match(item.strip())
            if match is None:
                raise ValueError(
                    f"{where}'{item}' is not a status code or range (write 200, '2xx' or '200-204')"
                )
            if match.group(1):
                low, high = int(match.group(1)) * 100, int(match.group(1)) * 100 + 99
            elif match.group(4):
                low = high = int(match.group(4))
            else:
                low, high = int(match.group(2)), int(match.group(3))
        if not (100 <= low <= 599 and 100 <= high <= 599):
            raise ValueError(f"{where}{item!r} is outside 100-599")
        if low > high:
            raise ValueError(f"{where}'{item}' is an empty range")
        ranges.append((low, high))
    return ranges


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


# --- keeping credentials out of what is stored ----------------------------------------------------


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    shown = dict(options)
    auth = shown.get("auth")
    if isinstance(auth, dict):
        shown["auth"] = {k: v if k in ("type", "username") else REDACTED for k, v in auth.items()}
    for key in ("headers", "params", "form", "json"):
        if key in shown:
            shown[key] = redact_names(shown[key])
    if isinstance(shown.get("url"), str):
        shown["url"] = redact_url(shown["url"])
    return shown


# --- the step type ---------------------------------------------------------------------------------


def _literal_origin(url: str) -> str | None:
    """The part of `url` that can be checked at load time: all of it without templates, else the text
    before the first template if it holds the whole scheme and host; None when a template touches them."""
    if "${" not in url:
        return url
    head = url.split("${", 1)[0]
    _, sep, rest = head.partition("://")
    return head if sep and any(mark in rest for mark in "/?#") else None


def _templated(value: Any) -> bool:
    if isinstance(value, list):
        return any(_templated(item) for item in value)
    return isinstance(value, str) and "${" in value


class HttpStep(StepType[HttpOptions]):
    name = "http"
    options = HttpOptions

    def __init__(self, env: StepEnvironment) -> None:
        super().__init__(env)
        self.settings_problem: str | None = None
        try:
            self.settings = msgspec.convert(env.settings.get("http", {}), HttpSettings)
        except msgspec.ValidationError as exc:  # load_install reports it with its line; keep defaults here
            self.settings = HttpSettings()
            self.settings_problem = f"[http] in app.toml is invalid: {exc}"
        limits = self.settings
        if limits.timeout_seconds <= 0 or limits.max_response_bytes < 1 or limits.max_redirects < 0:
            self.settings_problem = (
                "[http] in app.toml: timeout_seconds must be > 0, max_response_bytes >= 1 and "
                f"max_redirects >= 0 (got {limits.timeout_seconds}, {limits.max_response_bytes}, "
                f"{limits.max_redirects})"
            )
            self.settings = HttpSettings(allowed_hosts=limits.allowed_hosts)
        self.rules: list[HostRule] = []
        for index, pattern in enumerate(self.settings.allowed_hosts):
            try:
                self.rules.append(parse_host_rule(pattern))
            except ValueError as exc:
                self.settings_problem = f"[http] allowed_hosts[{index}] in app.toml: {exc}"
        self._client: httpx.AsyncClient | None = None
        self._jars: dict[str, httpx.Cookies] = {}  # by run id: a run's cookies, dropped when it ends
        # Environment variables any http step of the install reads: their values are secrets to scrub.
        self._secret_env: set[str] = set()

    # --- load time ---

    def check(self, options: HttpOptions) -> list[tuple[str, str]]:
        for _, reference in references(msgspec.to_builtins(options)):
            if reference.root == "env" and len(reference.parts) == 2:
                self._secret_env.add(reference.parts[1])
        problems: list[tuple[str, str]] = []
        if self.settings_problem:
            problems.append(("url", self.settings_problem))
        if "${" not in options.method and options.method.upper() not in METHODS:
            problems.append(("method", f"'{options.method}' is not one of {', '.join(METHODS)}"))
        origin = _literal_origin(options.url)
        if origin is not None and (problem := self._url_problem(origin)):
            problems.append(("url", problem))
        given = self._bodies(options)
        if len(given) > 1:
            problems.append((given[1], f"give only one of json, body and form (found {' and '.join(given)})"))
        if not _templated(options.expected_status):
            try:
                parse_expected_status(options.expected_status)
            except ValueError as exc:
                problems.append(("expected_status", str(exc)))
        if options.max_response_bytes is not None and options.max_response_bytes < 1:
            problems.append(
                ("max_response_bytes", f"expected a number of bytes >= 1, got {options.max_response_bytes}")
            )
        for index, header in enumerate(options.response_headers):
            if is_secret_name(header):
                problems.append(
                    (
                        f"response_headers[{index}]",
                        f"'{header}' carries credentials and would be stored in the run history",
                    )
                )
        return problems

    @staticmethod
    def _bodies(options: HttpOptions) -> list[str]:
        given = []
        if options.json is not msgspec.UNSET:
            given.append("json")
        if options.body is not None:
            given.append("body")
        if options.form is not None:
            given.append("form")
        return given

    def _url_problem(self, url: str) -> str | None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            return f"'{shown_url(url)}' is not a valid URL: {exc}"
        if parsed.scheme not in ("http", "https"):
            return f"expected an http:// or https:// URL, got '{shown_url(url)}'"
        if not parsed.raw_host:
            return f"'{shown_url(url)}' names no host"
        try:
            self._check_host(parsed)
        except HostNotAllowed as exc:
            return str(exc)
        return None

    def _check_host(self, url: httpx.URL) -> None:
        host, port = _host_and_port(url)
        if not any(rule.matches(host, port) for rule in self.rules):
            where = f"{host}:{port}"
            if not self.rules:
                hint = "[http] allowed_hosts in app.toml is empty, so http steps may call no host"
            else:
                now = ", ".join(self.settings.allowed_hosts)
                hint = f"add it to [http] allowed_hosts in app.toml (now: {now})"
            raise HostNotAllowed(f"host {where} is not allowed: {hint}")

    def redact(self, rendered: dict[str, Any]) -> dict[str, Any]:
        return redact_options(rendered)

    # --- run time ---

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            # Redirects are followed here, hop by hop, so every hop's host is checked before it is sent.
            # The client's own jar refuses every cookie: it is shared by every run (one pool), and the
            # cookies of a run are in that run's jar.
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=self.settings.timeout_seconds,
                cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            )
        return self._client

    def secrets(self, options: HttpOptions) -> list[str]:
        found = [value for name in self._secret_env if (value := os.environ.get(name))]
        if isinstance(options.auth, BearerAuth):
            found.append(options.auth.token)
        elif isinstance(options.auth, BasicAuth):
            found += [options.auth.password, basic_credentials(options.auth.username, options.auth.password)]
        for table in (options.headers, options.params, options.form or {}):
            for name, value in table.items():
                if is_secret_name(name) and value:
                    found += _credential_parts(str(value))
        if options.json is not msgspec.UNSET:
            found += _secret_fields(options.json)
        try:
            url = httpx.URL(options.url)
        except (httpx.InvalidURL, TypeError, ValueError):
            return found
        if url.password:
            found.append(url.password)
        found += [str(value) for name, value in url.params.multi_items() if is_secret_name(name) and value]
        return found

    def run_ended(self, run_id: str) -> None:
        self._jars.pop(run_id, None)

    def _jar(self, run_id: str) -> httpx.Cookies:
        jar = self._jars.get(run_id)
        if jar is None:
            if len(self._jars) >= _MAX_COOKIE_JARS:
                del self._jars[next(iter(self._jars))]
            jar = self._jars[run_id] = httpx.Cookies()
        return jar

    async def run(self, ctx: StepContext, options: HttpOptions) -> Any:
        try:
            output = await self._run(ctx, options)
        except StepFailure as exc:
            scrubbed = scrub_error(exc, self._cookie_values(ctx.run_id))
            if scrubbed is exc:
                raise
            raise scrubbed from None
        return self._cookie_values(ctx.run_id).value(output)

    def _cookie_values(self, run_id: str) -> Scrubber:
        """The run's cookies are credentials too (a session): a server may echo them back."""
        jar = self._jars.get(run_id)
        return Scrubber(cookie.value for cookie in jar.jar if cookie.value) if jar else NO_SECRETS

    async def _run(self, ctx: StepContext, options: HttpOptions) -> Any:
        def bad(field: str, message: str) -> PermanentStepFailure:
            return PermanentStepFailure(f"step '{ctx.step}': {field}: {message}")

        method = options.method.upper()
        if method not in METHODS:
            raise bad("method", f"'{options.method}' is not one of {', '.join(METHODS)}")
        problem = self._url_problem(options.url)
        if problem:
            raise bad("url", problem)
        given = self._bodies(options)
        if len(given) > 1:
            raise bad(given[1], f"give only one of json, body and form (found {' and '.join(given)})")
        try:
            expected = parse_expected_status(options.expected_status)
        except ValueError as exc:
            raise bad("expected_status", str(exc)) from exc
        limit = options.max_response_bytes or self.settings.max_response_bytes
        if limit < 1:
            raise bad("max_response_bytes", f"expected a number of bytes >= 1, got {limit}")

        request = self._build(ctx, method, options)
        if ctx.dry_run and method not in SAFE_METHODS:
            record = self._describe(request, options)
            ctx.log.info(f"dry run: {method} {shown_url(request.url)} not sent")
            return {"dry_run": True, "sent": False, "request": record}

        client = self._http_client()
        # A Cookie header the step sets itself is sent as it is; otherwise the run's jar decides, hop by hop.
        own_cookie = any(name.lower() == "cookie" for name in options.headers)
        hops = 0
        while True:
            try:
                self._check_host(request.url)
            except HostNotAllowed as exc:
                if hops == 0:
                    raise bad("url", str(exc)) from exc
                raise PermanentStepFailure(
                    f"step '{ctx.step}': refused to follow a redirect to {shown_url(request.url)}: {exc}"
                ) from exc
            if not own_cookie:
                request.headers.pop("cookie", None)  # a redirect copies the previous hop's headers
                jar = self._jars.get(ctx.run_id)
                if jar is not None:
                    jar.set_cookie_header(request)
            ctx.log.info(f"{request.method} {shown_url(request.url)}")
            response = await self._send(ctx, client, request)
            try:
                if "set-cookie" in response.headers:
                    self._jar(ctx.run_id).extract_cookies(response)
                following = options.follow_redirects and response.next_request is not None
                if not following:
                    return await self._finish(ctx, request, response, expected, limit, options)
                assert response.next_request is not None
                request = response.next_request
            finally:
                await response.aclose()
            hops += 1
            if hops > self.settings.max_redirects:
                raise PermanentStepFailure(
                    f"step '{ctx.step}': more than {self.settings.max_redirects} redirects "
                    "([http] max_redirects in app.toml)"
                )

    def _build(self, ctx: StepContext, method: str, options: HttpOptions) -> httpx.Request:
        headers = dict(options.headers)
        names = {name.lower() for name in headers}
        if options.auth is not None and "authorization" not in names:
            headers["Authorization"] = _authorization(options.auth)
        if "accept-encoding" not in names:
            # A compressed body could expand far past the cap in a single chunk; ask for it plain.
            headers["Accept-Encoding"] = "identity"
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
            return self._http_client().build_request(method, url, headers=headers, **content)
        except (httpx.InvalidURL, TypeError, ValueError, UnicodeEncodeError) as exc:
            raise PermanentStepFailure(f"step '{ctx.step}': the request cannot be built: {exc}") from exc

    @staticmethod
    def _describe(request: httpx.Request, options: HttpOptions) -> dict[str, Any]:
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

    async def _send(
        self, ctx: StepContext, client: httpx.AsyncClient, request: httpx.Request
    ) -> httpx.Response:
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

    async def _finish(
        self,
        ctx: StepContext,
        request: httpx.Request,
        response: httpx.Response,
        expected: list[tuple[int, int]],
        limit: int,
        options: HttpOptions,
    ) -> dict[str, Any]:
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
            summary = f"step '{ctx.step}': {where}: {status} {response.reason_phrase}"
            preview = " ".join(text[:_BODY_PREVIEW_CHARS].split())
            if preview:
                summary += f": {preview}"
            if status >= 500 or status in (408, 429):
                wait = retry_after_seconds(response.headers.get("retry-after"), ctx.now())
                raise StepFailure(summary, retry_after=wait)
            raise PermanentStepFailure(summary)
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


def _credential_parts(value: str) -> list[str]:
    """A credential header's value, and its token alone ("Bearer abc" is also "abc")."""
    scheme, _, rest = value.partition(" ")
    return [value, rest.strip()] if rest.strip() and scheme.isalpha() else [value]


def _secret_fields(value: Any) -> list[str]:
    """Values of secret-looking keys in a JSON body, at any depth."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if is_secret_name(str(key)) and isinstance(item, str | int) and not isinstance(item, bool):
                found.append(str(item))
            else:
                found += _secret_fields(item)
    elif isinstance(value, list):
        for item in value:
            found += _secret_fields(item)
    return found


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared client's jar policy: keep nothing, send nothing."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _query_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_query_value(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()
