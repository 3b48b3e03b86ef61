"""The process log's secret filter: what it scrubs, what it leaves alone, where it is attached, and which
secrets an install makes known."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomaflow.engine.config import load_install
from nomaflow.engine.steps.redaction import Scrubber, basic_credentials, scrubbing
from nomaflow.engine.telemetry.secret_filter import SecretFilter, attach, known_secrets, scrub_text


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            'HTTP Request: POST http://127.0.0.1:80/hooks/KEY-0123456789/ok?access_token=t0k "HTTP/1.1 200"',
            'HTTP Request: POST http://127.0.0.1:80/hooks/***/ok?*** "HTTP/1.1 200"',
        ),
        (
            '127.0.0.1:51234 - "GET /admin/runs?limit=50&token=abc HTTP/1.1" 200',
            '127.0.0.1:51234 - "GET /admin/runs?*** HTTP/1.1" 200',
        ),
        ("pool postgresql+asyncpg://app:pw-1@db:5432/jobs", "pool postgresql+asyncpg://***@db:5432/jobs"),
        ("https://svc@api.example.com/v1?x=1#top", "https://***@api.example.com/v1?***#top"),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        (
            "headers [(b'authorization', b'Basic dXNlcjpw'), (b'accept', b'*/*')]",
            "headers [(b'authorization', b'***'), (b'accept', b'*/*')]",
        ),
        ('{"Cookie": "sid=1; x=2", "n": 1}', '{"Cookie": "***", "n": 1}'),
        ("dsn host=db password=hunter2 user=app", "dsn host=db password=*** user=app"),
        # Nothing that looks like a credential: the text is left as it is.
        (
            "run of nightly succeeded (id 42): 3 rows, what? and/or ok",
            "run of nightly succeeded (id 42): 3 rows, what? and/or ok",
        ),
    ],
)
def test_scrub_text(line: str, shown: str) -> None:
    assert scrub_text(line, Scrubber(["KEY-0123456789"])) == shown


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, SecretFilter]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    log_filter = SecretFilter(Scrubber(["install-secret-1"]))
    handler.addFilter(log_filter)
    logger = logging.getLogger("httpx.test-log-redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream, log_filter
    finally:
        logger.removeHandler(handler)


def test_a_record_is_scrubbed_with_the_installs_and_the_running_steps_secrets(
    captured: tuple[logging.Logger, io.StringIO, SecretFilter],
) -> None:
    logger, stream, _ = captured
    token = "step-token-abcdef"
    encoded = base64.b64encode(b"install-secret-1").decode()
    with scrubbing(Scrubber([token])):
        logger.info("HTTP Request: %s %s", "GET", f"http://h/x/{token}/install-secret-1")
    logger.info("echo %s and %s", token, encoded)  # outside the step: its token is no longer known
    lines = stream.getvalue().splitlines()
    assert lines == [
        "httpx.test-log-redaction HTTP Request: GET http://h/x/***/***",
        f"httpx.test-log-redaction echo {token} and ***",
    ]


def test_a_traceback_with_a_secret_is_scrubbed_and_a_clean_record_is_untouched(
    captured: tuple[logging.Logger, io.StringIO, SecretFilter],
) -> None:
    logger, stream, log_filter = captured
    try:
        raise RuntimeError("GET https://api.example.com/x?key=install-secret-1 failed")
    except RuntimeError:
        logger.exception("the call failed")
    assert "install-secret-1" not in stream.getvalue() and "key=" not in stream.getvalue()
    assert "RuntimeError: GET https://api.example.com/x?*** failed" in stream.getvalue()

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d rows in %s", (3, "t"), None)
    assert log_filter.filter(record) and record.msg == "%d rows in %s" and record.args == (3, "t")
    structured = logging.LogRecord("x", logging.INFO, __file__, 1, {"event": "e"}, None, None)
    assert log_filter.filter(structured) and structured.msg == {"event": "e"}


def test_attach_adds_the_filter_to_every_configured_handler_once_and_detach_removes_it() -> None:
    root_handler = logging.NullHandler()
    access_handler = logging.NullHandler()
    logging.getLogger().addHandler(root_handler)
    access = logging.getLogger("uvicorn.access.test-log-redaction")
    access.addHandler(access_handler)
    log_filter = SecretFilter(Scrubber(["s-123456"]))
    try:
        detach = attach(log_filter)
        again = attach(SecretFilter(Scrubber(["s-123456"])))  # the same secrets: not added twice
        assert root_handler.filters == [log_filter] and access_handler.filters == [log_filter]
        detach()
        again()
        assert root_handler.filters == [] and access_handler.filters == []
    finally:
        logging.getLogger().removeHandler(root_handler)
        access.removeHandler(access_handler)


def test_an_install_makes_its_configured_secrets_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOMAFLOW_TEST_DB_PW", "db-password-1")
    monkeypatch.setenv("NOMAFLOW_TEST_HOOK_KEY", "hook-key-1")
    monkeypatch.setenv("NOMAFLOW_TEST_JWT", "j" * 40)
    monkeypatch.delenv("NOMAFLOW_DATABASE_URL", raising=False)
    (tmp_path / "app.toml").write_text(
        '[connectors.default]\nurl = "sqlite:///jobs.db"\n'
        '[connectors.warehouse]\nurl = "postgresql://app:${env.NOMAFLOW_TEST_DB_PW}@db/w"\n'
        '[connectors.literal]\nurl = "postgresql://app:literal-pw-1@db/w"\n'
        '[auth]\nsecret = "${env.NOMAFLOW_TEST_JWT}"\n'
        '[http]\nallowed_hosts = ["chat.example.com"]\n',
        encoding="utf-8",
    )
    plugin = tmp_path / "plugins" / "ops"
    plugin.mkdir(parents=True)
    (plugin / "jobs.toml").write_text(
        """
[[jobs]]
name = "notify"

[[jobs.steps]]
name = "post"
type = "http"
url = "https://chat.example.com/hooks/${env.NOMAFLOW_TEST_HOOK_KEY}"
auth = { type = "basic", username = "svc", password = "written-pw-1" }
""",
        encoding="utf-8",
    )
    known = known_secrets(load_install(tmp_path / "app.toml"))
    assert known.secrets >= {
        "db-password-1",
        "literal-pw-1",
        "hook-key-1",
        "j" * 40,
        "written-pw-1",
        basic_credentials("svc", "written-pw-1"),
    }
