"""`nomaflow job run --param` refuses values the job store cannot hold, in-process and through a
server, with exit code 2 and the param named; nothing is stored and the server serves on. A shell
passes bytes that are not UTF-8 as lone surrogates (Python's surrogateescape), and JSON escapes make
NUL characters, so both reach the CLI in practice. One of each, through a server and in-process (the
two share the check); about 7 s."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import NOMAFLOW
from tests.engine.server.processes import INSTALL, Server

pytestmark = [pytest.mark.e2e]

BAD_PARAMS = [
    ("text=a\udcffb", "param 'text' of job 'echo' contains a lone surrogate (\\udcff)"),
    (
        'tags=["ok", {"k": "\\u0000"}]',
        "param 'tags' of job 'echo' contains a NUL character (\\x00) at tags[1].k",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(INSTALL, f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cli') / 'nomaflow.db'}")
    try:
        yield running
    finally:
        running.stop()


def _finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=60)
    return process.returncode, output


def test_through_a_server(server: Server) -> None:
    param, message = BAD_PARAMS[0]
    code, output = _finished(server.cli("job", "run", "echo", "--param", param))
    assert code == 2 and message in output and "Traceback" not in output, output
    runs = httpx.get(f"{server.url}/admin/runs", headers=server.auth("viewer")).json()["runs"]
    assert runs == [] and httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_in_process(server: Server, tmp_path: Path) -> None:
    param, message = BAD_PARAMS[1]
    env = {**server.env, "NOMAFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"}
    process = subprocess.Popen(
        [NOMAFLOW, "job", "run", "echo", "--param", param],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    code, output = _finished(process)
    assert code == 2 and message in output and "Traceback" not in output, output
