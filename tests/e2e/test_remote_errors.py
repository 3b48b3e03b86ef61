"""The remote CLI when something is wrong: every error is one paragraph on stderr with the documented exit
code (docs/cli.md), never a traceback. One real `nomaflow serve` for the module (~3 s); each case is a
CLI process (~1 s)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import NOMAFLOW
from tests.engine.server.processes import INSTALL, Server

pytestmark = pytest.mark.e2e

MISSING = str(Path(__file__).parent / "missing.py")
NO_RUN = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    running = Server(INSTALL, f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}")
    try:
        yield running
    finally:
        running.stop()


def _run(server: Server, command: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=90)
    return done.returncode, done.stdout, done.stderr


def _cli(server: Server, *args: str, url: str | None = None, token: str | None = None) -> list[str]:
    return [NOMAFLOW, "--server", url or server.url, "--token", token or server.token("operator"), *args]


def _one_paragraph(stderr: str) -> str:
    assert "Traceback" not in stderr and "ExceptionGroup" not in stderr, stderr
    assert stderr.startswith("error: ") and stderr.strip().count("\n") == 0, stderr
    return stderr


def test_following_without_aiohttp_says_what_to_install(server: Server) -> None:
    # What a venv made by `python3 -m venv` got when the socketio extra was spelled asyncio_client.
    command = [sys.executable, MISSING, "aiohttp", "--", *_cli(server, "job", "run", "quick", "--wait")[1:]]
    code, stdout, stderr = _run(server, command)
    assert code == 1 and "of quick" in stdout  # the run was started; only following it failed
    message = _one_paragraph(stderr)
    assert "needs aiohttp" in message and "pip install" in message and "401" not in message


def test_a_token_the_socketio_server_refuses_is_a_401_with_its_reason(server: Server) -> None:
    code, _, stderr = _run(server, _cli(server, "job", "logs", "--follow", NO_RUN, token="not-a-token"))
    message = _one_paragraph(stderr)
    assert (
        code == 1 and "answered 401" in message and "Socket.IO connection refused: invalid token" in message
    )


def test_following_an_unknown_run_is_bad_usage(server: Server) -> None:
    code, _, stderr = _run(server, _cli(server, "job", "logs", "--follow", NO_RUN))
    assert code == 2 and f"no run with id {NO_RUN}" in _one_paragraph(stderr)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("jobs", "list"), "/ui/admin/jobs is not Nomaflow's API (it answered text/html, not JSON)"),
        (("job", "logs", "--follow", NO_RUN), "cannot open a Socket.IO connection to"),
    ],
    ids=["rest", "socketio"],
)
def test_a_url_that_is_not_the_api_says_so(server: Server, args: tuple[str, ...], expected: str) -> None:
    # Under /ui the server answers the web UI's page (200, HTML), and has no Socket.IO.
    code, _, stderr = _run(server, _cli(server, *args, url=f"{server.url}/ui"))
    assert code == 1 and expected in _one_paragraph(stderr)
    assert "Unclosed" not in stderr  # the Socket.IO client's HTTP session is closed, too


def test_a_server_that_is_not_there(server: Server) -> None:
    for args in (("jobs", "list"), ("job", "logs", "--follow", NO_RUN)):
        code, _, stderr = _run(server, _cli(server, *args, url="http://127.0.0.1:9"))
        assert code == 1 and "127.0.0.1:9" in _one_paragraph(stderr)
