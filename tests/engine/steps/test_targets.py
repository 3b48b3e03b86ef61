"""Where a step connects, and as whom, comes from configuration only: a connector, an LDAP server or its
credentials taken from a param (or an earlier step's output) is a `nomaflow check` problem, and nothing
connects. `${env.NAME}` (configuration) stays allowed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomaflow.engine import Engine
from nomaflow.engine.config.problems import ConfigError

NOMAFLOW = str(Path(sys.executable).parent / "nomaflow")

WHY = "where a step connects, and as whom, comes from configuration, never from params or step outputs"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listener of the operator's own on 127.0.0.1: the address the params point the steps at."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def _nobody_connected(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def _install(tmp_path: Path, port: int) -> Path:
    (tmp_path / "app.toml").write_text(
        '[connectors.users]\nurl = "sqlite:///users.db"\n[connectors.other]\nurl = "sqlite:///other.db"\n',
        encoding="utf-8",
    )
    plugin = tmp_path / "plugins" / "people"
    (plugin / "queries").mkdir(parents=True)
    (plugin / "queries" / "everyone.sql").write_text("-- name: everyone\nSELECT 1 AS one\n", encoding="utf-8")
    (plugin / "jobs.toml").write_text(
        f"""
[[jobs]]
name = "sync-people"
params = {{ server = "ldap://127.0.0.1:{port}", who = "cn=admin,dc=example,dc=org", db = "users" }}

[[jobs.steps]]
name = "mirror"
type = "ldap_sync"
server = "${{params.server}}"
bind_dn = "${{params.who}}"
bind_password = "${{env.NOMAFLOW_TEST_BIND_PASSWORD}}"
base_dn = "dc=example,dc=org"
attributes = {{ uid = "uid" }}
connector = "users"
table = "users"
key = "uid"

[[jobs.steps]]
name = "count"
type = "sql_query"
connector = "${{params.db}}"
query = "everyone:read"

[[jobs.steps]]
name = "copy"
type = "sql_copy"
source = "${{steps.count.output.columns.0}}"
target = "${{params.db}}"
query = "everyone"
table = "copied"
""",
        encoding="utf-8",
    )
    return tmp_path / "app.toml"


def test_check_reports_param_driven_targets_and_nothing_connects(
    tmp_path: Path, listener: socket.socket
) -> None:
    app_toml = _install(tmp_path, listener.getsockname()[1])
    env = {**os.environ, "NOMAFLOW_TEST_BIND_PASSWORD": "bind-secret-123", "COLUMNS": "400"}
    result = subprocess.run(
        [NOMAFLOW, "--config", str(app_toml), "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "configuration problems" in result.stderr + result.stdout
    lines = [" ".join(line.split()) for line in (result.stdout + result.stderr).splitlines()]
    jobs = "plugins/people/jobs.toml"
    expected = [
        (f"{jobs}:9: jobs[0].steps[0].server: step 'mirror' of job 'sync-people': ", "${params.server}"),
        (f"{jobs}:10: jobs[0].steps[0].bind_dn: step 'mirror' of job 'sync-people': ", "${params.who}"),
        (f"{jobs}:21: jobs[0].steps[1].connector: step 'count' of job 'sync-people': ", "may not be"),
        (f"{jobs}:27: jobs[0].steps[2].source: step 'copy' of job 'sync-people': ", "may not be"),
        (f"{jobs}:28: jobs[0].steps[2].target: step 'copy' of job 'sync-people': ", "may not be"),
    ]
    for head, detail in expected:
        assert any(head in line and detail in line and WHY in line for line in lines), (head, lines)
    # The password comes from the environment (configuration): not a problem, and never printed.
    assert not any("bind_password" in line for line in lines)
    assert "bind-secret-123" not in result.stdout + result.stderr
    assert _nobody_connected(listener)


@pytest.mark.anyio
async def test_the_same_steps_cannot_be_defined_in_python_and_nothing_connects(
    tmp_path: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.toml").write_text('[connectors.users]\nurl = "sqlite:///users.db"\n', encoding="utf-8")
    monkeypatch.setenv("NOMAFLOW_TEST_LDAP_URL", f"ldap://127.0.0.1:{listener.getsockname()[1]}")
    ldap = {
        "name": "mirror",
        "type": "ldap_sync",
        "server": "${env.NOMAFLOW_TEST_LDAP_URL}",  # configuration: allowed
        "bind_dn": "cn=reader,dc=example,dc=org",
        "bind_password": "${params.password}",  # input: refused
        "base_dn": "dc=example,dc=org",
        "attributes": {"uid": "uid"},
        "connector": "users",
        "table": "users",
        "key": "uid",
    }
    app_toml = tmp_path / "app.toml"
    async with Engine.from_path(
        app_toml, database_url=f"sqlite:///{tmp_path / 'jobs.db'}", scheduler=False
    ) as engine:
        with pytest.raises(ConfigError) as caught:
            engine.define_job(name="sync", params={"password": ""}, steps=[ldap])
        assert "sync" not in engine.jobs
    (problem,) = caught.value.problems
    assert problem.path == "steps[0].bind_password"
    assert problem.message == (
        f"step 'mirror' of job 'sync': may only use ${{env.NAME}} templates, not ${{params.password}} ({WHY})"
    )
    assert _nobody_connected(listener)
