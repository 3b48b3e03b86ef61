"""The http step's pure parts: host rules, status ranges, Retry-After and redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from nomaflow.engine.steps.base import StepEnvironment
from nomaflow.engine.steps.http import (
    HttpOptions,
    HttpStep,
    parse_expected_status,
    parse_host_rule,
    redact_options,
    retry_after_seconds,
)


@pytest.mark.parametrize(
    ("pattern", "host", "port", "allowed"),
    [
        ("api.example.com", "api.example.com", 443, True),
        ("API.Example.com.", "api.example.com", 80, True),
        ("api.example.com", "example.com", 443, False),
        ("api.example.com", "evil-api.example.com", 443, False),
        ("*.example.com", "a.b.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "badexample.com", 443, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8081, False),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]", "::1", 1, True),
        ("*", "anything.test", 1234, True),
        ("bücher.example", "xn--bcher-kva.example", 443, True),
    ],
)
def test_host_rules(pattern: str, host: str, port: int, allowed: bool) -> None:
    assert parse_host_rule(pattern).matches(host, port) is allowed


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        ("https://api.example.com", "write the host name only"),
        ("user@host", "write the host name only"),
        ("host:http", "the port must be a number"),
        ("host:70000", "out of range"),
        ("api.*.com", "'*' may only stand alone or as the first label"),
        ("[::1", "unclosed"),
    ],
)
def test_bad_host_rules(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_host_rule(pattern)


def test_expected_status() -> None:
    assert parse_expected_status("2xx") == [(200, 299)]
    assert parse_expected_status(204) == [(204, 204)]
    assert parse_expected_status(["200-204", "404", 409]) == [(200, 204), (404, 404), (409, 409)]
    for bad in ([], "2XX0", "300-200", 99, [True]):
        with pytest.raises(ValueError):
            parse_expected_status(bad)  # type: ignore[arg-type]


def test_retry_after() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_redaction_removes_credentials_and_keeps_the_rest() -> None:
    shown = redact_options(
        {
            "url": "https://user:pw@api.example.com/v1/items?page=2&access_token=abc",
            "method": "POST",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "application/json"},
            "params": {"q": "x", "apiKey": "k"},
            "json": {"user": {"name": "n", "password": "p"}, "items": [{"secret": 1}]},
            "form": {"client_secret": "s", "grant_type": "client_credentials"},
            "auth": {"type": "basic", "username": "u", "password": "p"},
        }
    )
    assert shown == {
        "url": "https://user:***@api.example.com/v1/items?page=2&access_token=%2A%2A%2A",
        "method": "POST",
        "headers": {"Authorization": "***", "X-Api-Key": "***", "Accept": "application/json"},
        "params": {"q": "x", "apiKey": "***"},
        "json": {"user": {"name": "n", "password": "***"}, "items": [{"secret": "***"}]},
        "form": {"client_secret": "***", "grant_type": "client_credentials"},
        "auth": {"type": "basic", "username": "u", "password": "***"},
    }
    assert redact_options({"auth": {"type": "bearer", "token": "t"}})["auth"] == {
        "type": "bearer",
        "token": "***",
    }


def test_bad_http_settings_are_reported_on_every_http_step(tmp_path: Path) -> None:
    options = HttpOptions(url="https://api.example.com/")
    for settings, message in (
        ({"allowed_hosts": ["https://api.example.com"]}, "[http] allowed_hosts[0] in app.toml: "),
        # The bounds are HttpSettings' own (docs/configuration.md#ranges); load_install names the line.
        ({"allowed_hosts": ["api.example.com"], "timeout_seconds": 0}, "> 0.0 - at `$.timeout_seconds`"),
    ):
        step = HttpStep(StepEnvironment(root=tmp_path, settings={"http": settings}))
        assert any(field == "url" and message in text for field, text in step.check(options)), settings
