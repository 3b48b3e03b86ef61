"""Keeping credentials out of what is stored, published and logged: one place for every step type.

Two tools. By name: values whose key says "credential" (an Authorization header, a `password` field, a
`token` query parameter) are replaced wherever options are recorded. By value: a `Scrubber` holds the
secrets a step sends (tokens, passwords, keys) and replaces them in any text or data, in each encoding
they travel in (raw, percent-encoded, base64, JSON- or HTML-escaped), since a remote may echo one back
where no name gives it away: a webhook key in a URL's path, a Basic header reflected in an error page.

While a step runs, its scrubber is also the current one (`current_scrubber`), so a library that logs on
the step's behalf (httpx, ldap3) is scrubbed by the process log's filter (engine/telemetry/secret_filter.py).
"""

from __future__ import annotations

import base64
import contextvars
import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from nomaflow.engine.config.templating import REDACTED

if TYPE_CHECKING:  # imported where a URL is read: an engine whose jobs make no HTTP calls needs none
    import httpx

ErrorT = TypeVar("ErrorT", bound=BaseException)

# Names (of headers, query parameters, form and JSON fields) whose values are credentials.
_SECRET_NAME = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie|auth)$|token|secret|passw|api[-_]?key|credential"
    r"|signature|private[-_]?key",
    re.IGNORECASE,
)
# Shorter forms are not replaced: three characters of ordinary text would be starred everywhere.
MIN_SECRET_CHARS = 3
# Characters a URL path keeps as they are (RFC 3986 sub-delims, ':' and '@'): how a secret sits in a path.
_PATH_SAFE = "/:@!$&'()*+,;="


# --- by name -----------------------------------------------------------------------------------------


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_names(value: Any) -> Any:
    """`value` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_name(str(k)) else redact_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_names(item) for item in value]
    return value


def redact_url(url: str) -> str:
    """The URL with a password and secret-looking query values replaced (it may still hold templates)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return url
    changes: dict[str, Any] = {}
    if parsed.password:
        changes["username"], changes["password"] = parsed.username, REDACTED
    if parsed.query and any(is_secret_name(key) for key in parsed.params):
        changes["params"] = [
            (key, REDACTED if is_secret_name(key) else item) for key, item in parsed.params.multi_items()
        ]
    return str(parsed.copy_with(**changes)) if changes else url


def shown_url(url: httpx.URL | str) -> str:
    """The URL as it may be logged: no user info, no query string (either may carry a credential)."""
    import httpx

    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
        return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<an invalid URL>"


def basic_credentials(username: str, password: str) -> str:
    """What an `Authorization: Basic` header carries: base64 of "username:password"."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# --- by value ----------------------------------------------------------------------------------------


def secret_forms(secret: str) -> set[str]:
    """`secret` as it may appear in text we send or receive: raw, percent-encoded (in a path, a query or
    a form), base64 (standard and URL-safe, padded or not), and escaped in JSON or HTML."""
    import httpx

    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote(secret, safe=_PATH_SAFE),
        urllib.parse.quote_plus(secret),
        str(httpx.QueryParams({"k": secret}))[2:],  # how the http step sends it in a query or a form
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
    }
    raw = secret.encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms |= {text, text.rstrip("=")}
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


class Scrubber:
    """Replaces known secret values, in every form `secret_forms` knows, by ***."""

    __slots__ = ("_forms", "_pattern", "secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS)
        forms: set[str] = set()
        for secret in self.secrets:
            forms |= secret_forms(secret)
        # Longest first, so a secret containing another is replaced whole; one pass over the text.
        self._forms = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, self._forms))) if self._forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __or__(self, other: Scrubber) -> Scrubber:
        if not other or other.secrets <= self.secrets:
            return self
        if not self:
            return other
        return Scrubber(self.secrets | other.secrets)

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """`value` (JSON-like data) with every string scrubbed, keys included."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.value(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


NO_SECRETS = Scrubber()


def scrub_error(error: ErrorT, scrubber: Scrubber) -> ErrorT:
    """`error` itself if its message holds no secret, else a copy of it (same type and attributes, so a
    StepFailure keeps its retry_after) whose message is scrubbed."""
    text = str(error)
    clean = scrubber(text)
    if clean == text:
        return error
    scrubbed = type(error).__new__(type(error))
    scrubbed.__dict__.update(error.__dict__)
    scrubbed.args = (clean,)
    return scrubbed


# The scrubber of the step running in this context (task, or worker thread started from it).
current_scrubber: contextvars.ContextVar[Scrubber] = contextvars.ContextVar(
    "nomaflow_current_scrubber", default=NO_SECRETS
)


@contextmanager
def scrubbing(scrubber: Scrubber) -> Iterator[None]:
    """Make `scrubber` the current one (for the process log's filter) inside the block."""
    token = current_scrubber.set(scrubber)
    try:
        yield
    finally:
        current_scrubber.reset(token)
