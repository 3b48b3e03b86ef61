"""An http step's options as written in jobs.toml, what of them may be shown (credentials removed), and
which of their values are credentials the executor must scrub from everything the step records."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from nomaflow.engine.config.templating import REDACTED
from nomaflow.engine.steps.redaction import basic_credentials, is_secret_name, redact_names, redact_url

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


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


def bodies(options: HttpOptions) -> list[str]:
    """Which of json, body and form the options give (at most one may be)."""
    given = []
    if options.json is not msgspec.UNSET:
        given.append("json")
    if options.body is not None:
        given.append("body")
    if options.form is not None:
        given.append("form")
    return given


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


def option_secrets(options: HttpOptions) -> list[str]:
    """The credentials these (rendered) options send: auth, secret-named fields, the URL's password."""
    found: list[str] = []
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
