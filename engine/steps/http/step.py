"""The `http` step type: its load-time checks, and one run (hop by hop through redirects) on a shared
client, with each run's cookies in that run's own jar."""

from __future__ import annotations

import http.cookiejar
import os
from typing import Any

import httpx
import msgspec

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.model import HttpSettings
from nomaflow.engine.config.templating import references
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.http.exchange import build_request, describe_request, finish, send
from nomaflow.engine.steps.http.hosts import HostNotAllowed, HostRule, check_host, parse_host_rule
from nomaflow.engine.steps.http.options import METHODS, HttpOptions, bodies, option_secrets, redact_options
from nomaflow.engine.steps.http.status import parse_expected_status
from nomaflow.engine.steps.redaction import NO_SECRETS, Scrubber, is_secret_name, scrub_error, shown_url

# Requests a dry run still sends: they change nothing on the server, and later steps may need the answer.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Runs whose cookies are kept at once. A run's jar goes when the run ends; this bounds what is kept should
# an end never be announced (the oldest jar goes first).
_MAX_COOKIE_JARS = 10_000


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

    # --- load time (and again at run time, on the rendered options) ---

    def check(self, options: HttpOptions, *, rendered: bool = False) -> list[tuple[str, str]]:
        """The options' problems. As written (at load time) a field holding a template is checked as far
        as it can be; `rendered` (at run time) every field is checked in full, `${` being plain text."""
        if not rendered:
            # A job defined in Python may hold any object: only its text can hold a reference.
            for _, reference in references(msgspec.to_builtins(options, enc_hook=str)):
                if reference.root == "env" and len(reference.parts) == 2:
                    self._secret_env.add(reference.parts[1])
        problems: list[tuple[str, str]] = []
        if self.settings_problem:
            problems.append(("url", self.settings_problem))
        if (rendered or "${" not in options.method) and options.method.upper() not in METHODS:
            problems.append(("method", f"'{options.method}' is not one of {', '.join(METHODS)}"))
        origin = options.url if rendered else _literal_origin(options.url)
        if origin is not None and (problem := self._url_problem(origin)):
            problems.append(("url", problem))
        given = bodies(options)
        if len(given) > 1:
            problems.append((given[1], f"give only one of json, body and form (found {' and '.join(given)})"))
        if rendered or not _templated(options.expected_status):
            try:
                parse_expected_status(options.expected_status)
            except ValueError as exc:
                problems.append(("expected_status", str(exc)))
        if options.max_response_bytes is not None and options.max_response_bytes < 1:
            problems.append(
                ("max_response_bytes", f"expected a number of bytes >= 1, got {options.max_response_bytes}")
            )
        problems += [
            (
                f"response_headers[{index}]",
                f"'{header}' carries credentials and would be stored in the run history",
            )
            for index, header in enumerate(options.response_headers)
            if is_secret_name(header)
        ]
        return problems

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
        check_host(url, self.rules, self.settings.allowed_hosts)

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
        return found + option_secrets(options)

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
        # Templates may have made any field wrong: the load-time checks again, on what was rendered.
        problems = self.check(options, rendered=True)
        if problems:
            field, message = problems[0]
            raise PermanentStepFailure(f"step '{ctx.step}': {field}: {message}")
        method = options.method.upper()
        expected = parse_expected_status(options.expected_status)
        limit = options.max_response_bytes or self.settings.max_response_bytes
        request = build_request(self._http_client(), ctx.step, method, options)
        if ctx.dry_run and method not in SAFE_METHODS:
            ctx.log.info(f"dry run: {method} {shown_url(request.url)} not sent")
            return {"dry_run": True, "sent": False, "request": describe_request(request, options)}
        return await self._follow(ctx, request, options, expected, limit)

    async def _follow(
        self,
        ctx: StepContext,
        request: httpx.Request,
        options: HttpOptions,
        expected: list[tuple[int, int]],
        limit: int,
    ) -> dict[str, Any]:
        """Send `request`, then each redirect the options let it follow; the last response is the output."""
        client = self._http_client()
        # A Cookie header the step sets itself is sent as it is; otherwise the run's jar decides, hop by hop.
        own_cookie = any(name.lower() == "cookie" for name in options.headers)
        hops = 0
        while True:
            self._check_hop(ctx, request, hops)
            if not own_cookie:
                request.headers.pop("cookie", None)  # a redirect copies the previous hop's headers
                jar = self._jars.get(ctx.run_id)
                if jar is not None:
                    jar.set_cookie_header(request)
            ctx.log.info(f"{request.method} {shown_url(request.url)}")
            response = await send(ctx, client, request)
            try:
                if "set-cookie" in response.headers:
                    self._jar(ctx.run_id).extract_cookies(response)
                following = response.next_request if options.follow_redirects else None
                if following is None:
                    return await finish(ctx, request, response, expected, limit, options)
                request = following
            finally:
                await response.aclose()
            hops += 1
            if hops > self.settings.max_redirects:
                raise PermanentStepFailure(
                    f"step '{ctx.step}': more than {self.settings.max_redirects} redirects "
                    "([http] max_redirects in app.toml)"
                )

    def _check_hop(self, ctx: StepContext, request: httpx.Request, hops: int) -> None:
        try:
            self._check_host(request.url)
        except HostNotAllowed as exc:
            if hops == 0:
                raise PermanentStepFailure(f"step '{ctx.step}': url: {exc}") from exc
            raise PermanentStepFailure(
                f"step '{ctx.step}': refused to follow a redirect to {shown_url(request.url)}: {exc}"
            ) from exc


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared client's jar policy: keep nothing, send nothing."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False
