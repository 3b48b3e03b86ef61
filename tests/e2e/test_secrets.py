"""Seeded secrets: real jobs send a bearer token, a Basic password, a webhook key (in a URL's path) and an
access token (in its query string) to a server that echoes them back in headers and bodies; bind to slapd
with a seeded password; read PostgreSQL through a connector URL holding a seeded password; fail with a
seeded value in an exception. Then none of the seeded values, raw, percent-encoded or base64, is found in
any table of the job store, in the `nomaflow serve` process log at DEBUG, in any API answer, in /metrics,
or in any Socket.IO or bus event.

Cost: one `nomaflow serve` per job store (SQLite, PostgreSQL) plus one in-process engine, one slapd and
one echo server for the module; about 10 s in all.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
import uvicorn
from sqlalchemy import MetaData, make_url, select
from sqlalchemy.ext.asyncio import create_async_engine

from nomaflow.actors.events import AnyEvent, RunFinished
from nomaflow.engine import Engine
from nomaflow.engine.store import normalise_url
from tests.engine.server.processes import Listener, Server
from tests.engine.steps.ldap_fixture import SUFFIX, Slapd, base_ldif, people_ldif

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SEEDED_DN = f"cn=seeded,{SUFFIX}"
JOBS = ("call-apis", "refused", "mirror-directory", "query-warehouse", "unreachable", "python-echo")


def _seed(name: str) -> str:
    # Characters that encode differently in a path, a query, JSON and base64.
    return f"{name}+{uuid.uuid4().hex}/x=y"


@dataclass(frozen=True)
class Seeds:
    token: str = field(default_factory=lambda: _seed("tok"))
    basic_password: str = field(default_factory=lambda: _seed("basic"))
    hook_key: str = field(default_factory=lambda: f"hook-{uuid.uuid4().hex}")  # a path segment
    query_token: str = field(default_factory=lambda: _seed("qtok"))
    ldap_password: str = field(default_factory=lambda: _seed("ldap"))
    db_password: str = field(default_factory=lambda: _seed("db"))
    jwt_secret: str = field(default_factory=lambda: "jwt-" + uuid.uuid4().hex * 2)

    @property
    def env(self) -> dict[str, str]:
        return {
            "SEED_TOKEN": self.token,
            "SEED_BASIC_PW": self.basic_password,
            "SEED_HOOK_KEY": self.hook_key,
            "SEED_QUERY_TOKEN": self.query_token,
            "SEED_LDAP_PW": self.ldap_password,
            "SEED_DB_PW": self.db_password,
            "NOMAFLOW_JWT_SECRET": self.jwt_secret,
        }

    def forms(self) -> dict[str, str]:
        """Each seeded value in every form it could leak in, named for the failure message."""
        found: dict[str, str] = {}
        values = {**self.env, "basic pair": f"svc:{self.basic_password}"}
        for name, value in values.items():
            raw = value.encode()
            found |= {
                f"{name} raw": value,
                f"{name} quoted": urllib.parse.quote(value, safe=""),
                f"{name} path-quoted": urllib.parse.quote(value),
                f"{name} quote_plus": urllib.parse.quote_plus(value),
                f"{name} base64": base64.b64encode(raw).decode(),
                f"{name} base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            }
        return found

    def leaks(self, text: str) -> list[str]:
        return [name for name, form in self.forms().items() if form in text]


# --- the echo server ---------------------------------------------------------------------------------


@dataclass
class Echo:
    """Answers every request with what it received: in its body, and in response headers a step keeps."""

    port: int
    hits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        target = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        self.hits.append({"target": target, "headers": headers, "body": body.decode()})
        auth = headers.get("authorization", "") + headers.get("x-api-key", "")
        echoed = [
            (b"location", target.encode()),
            (b"x-echo-auth", auth.encode()),
            (b"etag", f'"{auth}"'.encode()),
        ]
        if scope["path"].startswith("/fail"):  # an error page that quotes the credentials it was sent
            page = f"<html><body>Denied: {auth} for {target}</body></html>".encode()
            start = {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/html"), *echoed],
            }
            await send(start)
            await send({"type": "http.response.body", "body": page})
            return
        reply = msgspec.json.encode({"target": target, "headers": headers, "body": body.decode()})
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), *echoed],
        }
        await send(start)
        await send({"type": "http.response.body", "body": reply})


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    app = Echo(port=sock.getsockname()[1])
    config = uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        runner.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def seeds() -> Seeds:
    return Seeds()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory, seeds: Seeds) -> Iterator[Slapd]:
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    seeded = (
        f"dn: {SEEDED_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: seeded\nuserPassword: {seeds.ldap_password}\n"
    )
    server.load([*base_ldif(), seeded, *people_ldif("people", 5)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the install -------------------------------------------------------------------------------------

STEPS_PY = '''"""Python steps of the seeded-secrets test."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio

from nomaflow.actors import StepContext


async def wait_for_file(path: str) -> dict[str, str]:
    # The test creates the file once it listens to every run: polling is the only way to see it.
    while not Path(path).exists():  # noqa: ASYNC110, ASYNC240
        await anyio.sleep(0.02)
    return {"seen": path}


def fail_with(text: str, ctx: StepContext) -> None:
    ctx.log.info(f"about to fail with {text}")
    logging.getLogger("seeded.plugin").warning("the upstream said %s", text)
    raise ValueError(f"upstream said: {text}")
'''


def write_install(root: Path, echo: Echo, slapd: Slapd, warehouse_url: str) -> Path:
    base = echo.base
    warehouse = make_url(warehouse_url)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    (root / "app.toml").write_text(
        f"""
[jobs]
timezone = "UTC"
scheduler_enabled = false
shutdown_grace_seconds = 2

[auth]
secret = "${{env.NOMAFLOW_JWT_SECRET}}"

[http]
allowed_hosts = ["127.0.0.1:{echo.port}"]

[connectors.users]
url = "sqlite:///users.db"

[connectors.warehouse]
url = "postgresql://{warehouse.username}:${{env.SEED_DB_PW}}@{warehouse.host}:{warehouse.port}/{warehouse.database}"

[connectors.nowhere]
url = "postgresql://app:${{env.SEED_DB_PW}}@127.0.0.1:{closed}/nowhere"
""",
        encoding="utf-8",
    )
    plugin = root / "plugins" / "seeded"
    (plugin / "queries").mkdir(parents=True, exist_ok=True)
    (plugin / "__init__.py").write_text("", encoding="utf-8")
    (plugin / "steps.py").write_text(STEPS_PY, encoding="utf-8")
    (plugin / "queries" / "warehouse.sql").write_text(
        "-- name: echo\nSELECT CAST(:pw AS text) AS echoed\n", encoding="utf-8"
    )
    gate = """
[[jobs.steps]]
name = "gate"
type = "python"
callable = "seeded.steps:wait_for_file"
kwargs = { path = "${params.gate}" }
"""
    job = '\n[[jobs]]\nname = "NAME"\nparams = { gate = "" }\nretry = { max_attempts = 1 }\n' + gate
    (plugin / "jobs.toml").write_text(
        job.replace("NAME", "call-apis")
        + f"""
[[jobs.steps]]
name = "bearer"
type = "http"
url = "{base}/echo/bearer"
auth = {{ type = "bearer", token = "${{env.SEED_TOKEN}}" }}
response_headers = ["x-echo-auth"]

[[jobs.steps]]
name = "basic"
type = "http"
url = "{base}/echo/basic"
auth = {{ type = "basic", username = "svc", password = "${{env.SEED_BASIC_PW}}" }}
response_headers = ["x-echo-auth"]

[[jobs.steps]]
name = "hook"
type = "http"
method = "POST"
url = "{base}/hooks/${{env.SEED_HOOK_KEY}}/ok?access_token=${{env.SEED_QUERY_TOKEN}}"
json = {{ text = "key ${{env.SEED_HOOK_KEY}}", ok = true }}

[[jobs.steps]]
name = "header-key"
type = "http"
url = "{base}/echo/header"
headers = {{ X-Api-Key = "${{env.SEED_TOKEN}}" }}
params = {{ access_token = "${{env.SEED_QUERY_TOKEN}}" }}
"""
        + job.replace("NAME", "refused")
        + f"""
[[jobs.steps]]
name = "call"
type = "http"
url = "{base}/fail/${{env.SEED_HOOK_KEY}}?access_token=${{env.SEED_QUERY_TOKEN}}"
auth = {{ type = "bearer", token = "${{env.SEED_TOKEN}}" }}

[[jobs.on_failure]]
name = "tell"
type = "http"
method = "POST"
url = "{base}/hooks/${{env.SEED_HOOK_KEY}}/ok"
json = {{ text = "${{params.job}} failed: ${{params.error}}" }}
"""
        + job.replace("NAME", "mirror-directory")
        + f"""
[[jobs.steps]]
name = "mirror"
type = "ldap_sync"
server = "{slapd.url}"
bind_dn = "{SEEDED_DN}"
bind_password = "${{env.SEED_LDAP_PW}}"
base_dn = "ou=people,{SUFFIX}"
filter = "(objectClass=inetOrgPerson)"
attributes = {{ uid = "uid", mail = "email" }}
connector = "users"
table = "users"
key = "uid"
"""
        + job.replace("NAME", "query-warehouse")
        + """
[[jobs.steps]]
name = "echo"
type = "sql_query"
connector = "warehouse"
query = "echo:read"
params = { pw = "${env.SEED_DB_PW}" }
"""
        + job.replace("NAME", "unreachable")
        + """
[[jobs.steps]]
name = "echo"
type = "sql_query"
connector = "nowhere"
query = "echo:read"
params = { pw = "x" }
"""
        + job.replace("NAME", "python-echo")
        + """
[[jobs.steps]]
name = "fail"
type = "python"
callable = "seeded.steps:fail_with"
kwargs = { text = "${env.SEED_TOKEN} ${env.SEED_BASIC_PW}" }
""",
        encoding="utf-8",
    )
    return root / "app.toml"


async def make_users_table(root: Path) -> None:
    database = create_async_engine(normalise_url(f"sqlite:///{root / 'users.db'}"))
    try:
        async with database.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE users (uid TEXT PRIMARY KEY, email TEXT)")
    finally:
        await database.dispose()


async def dump_store(database_url: str) -> str:
    """Every row of every table of the job store, as text."""
    database = create_async_engine(normalise_url(database_url))
    try:
        async with database.connect() as connection:
            metadata = MetaData()
            await connection.run_sync(metadata.reflect)
            parts = []
            for table in metadata.sorted_tables:
                rows = (await connection.execute(select(table))).all()
                parts.append(f"{table.name}: " + "\n".join(repr(tuple(row)) for row in rows))
    finally:
        await database.dispose()
    return "\n".join(parts)


@pytest.fixture
async def warehouse_url(pg_session_url: str) -> str:
    return pg_session_url


def check_sent(echo: Echo, seeds: Seeds) -> None:
    """The real credentials did go out (otherwise finding none of them stored would prove nothing)."""
    sent = json.dumps(echo.hits)
    assert f"Bearer {seeds.token}" in sent
    assert "Basic " + base64.b64encode(f"svc:{seeds.basic_password}".encode()).decode() in sent
    # A template is put in a URL as it is: the URL carries the raw value; params encode theirs.
    assert f"/hooks/{seeds.hook_key}/ok?access_token={seeds.query_token}" in sent
    assert "access_token=" + urllib.parse.quote_plus(seeds.query_token) in sent
    assert f"key {seeds.hook_key}" in sent


# --- the tests ---------------------------------------------------------------------------------------


async def test_seeded_secrets_reach_no_table_log_answer_metric_or_event(
    tmp_path: Path,
    database_url: str,
    echo: Echo,
    slapd: Slapd,
    seeds: Seeds,
    warehouse_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in seeds.env.items():  # the test reads the install too (to sign its tokens)
        monkeypatch.setenv(name, value)
    app_toml = write_install(tmp_path, echo, slapd, warehouse_url)
    await make_users_table(tmp_path)
    gate = tmp_path / "gate"
    server = Server(app_toml, database_url, {**seeds.env, "NOMAFLOW_LOG_LEVEL": "debug"})
    admin = server.token("admin")
    listener = Listener()
    answers: list[str] = []
    try:
        await listener.client.connect(server.url, auth={"token": admin}, wait_timeout=10)
        assert (await listener.client.call("join", {"room": "jobs"}, timeout=10))["ok"]
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {admin}"}
        ) as http:
            run_ids = {}
            for job in JOBS:
                started = await http.post(f"/admin/jobs/{job}/run", json={"params": {"gate": str(gate)}})
                assert started.status_code == 202, started.text
                run_ids[job] = started.json()["run_id"]
                joined = await listener.client.call("join", {"room": f"run:{run_ids[job]}"}, timeout=10)
                assert joined["ok"], joined
            gate.touch()  # every run is watched from its first step on: let them go
            for run_id in run_ids.values():
                await listener.wait_for("RunFinished", seconds=60, run_id=run_id)
            await listener.wait_for("RunFinished", seconds=60, job="refused.on-failure")
            runs = (await http.get("/admin/runs", params={"limit": 100})).json()["runs"]
            answers.append(json.dumps(runs))
            for run in runs:
                for tail in ("", "/logs", "/diagram"):
                    answer = await http.get(f"/admin/runs/{run['id']}{tail}")
                    assert answer.status_code == 200
                    answers.append(answer.text)
            for path in ("/admin/jobs", "/metrics", "/health"):
                answers.append((await http.get(path)).text)
            details = {
                job: (await http.get(f"/admin/runs/{run_id}")).json() for job, run_id in run_ids.items()
            }
    finally:
        await listener.client.disconnect()
        process_log = server.stop()

    # The runs did what they were meant to (otherwise finding no secret proves nothing).
    status = {job: details[job]["status"] for job in JOBS}
    assert status == {
        "call-apis": "succeeded",
        "refused": "failed",
        "mirror-directory": "succeeded",
        "query-warehouse": "succeeded",
        "unreachable": "failed",
        "python-echo": "failed",
    }, {job: details[job].get("error") for job in JOBS}
    check_sent(echo, seeds)
    steps = {job: {step["name"]: step for step in details[job]["steps"]} for job in JOBS}
    assert steps["mirror-directory"]["mirror"]["output"]["inserted"] == 5
    assert steps["query-warehouse"]["echo"]["output"]["first_rows"] == [{"echoed": "***"}]
    assert steps["call-apis"]["bearer"]["output"]["headers"]["x-echo-auth"] == "Bearer ***"
    assert (
        "401 Unauthorized: <html><body>Denied: Bearer *** for /fail/***" in steps["refused"]["call"]["error"]
    )
    assert "upstream said: *** ***" in steps["python-echo"]["fail"]["error"]
    # The process log was at DEBUG and saw the requests, scrubbed.
    assert " DEBUG " in process_log and "HTTP Request: POST" in process_log
    assert f"{echo.base}/hooks/***/ok?***" in process_log

    stored = await dump_store(database_url)
    assert all(run_id in stored for run_id in run_ids.values()) and "***" in stored
    events = json.dumps(listener.received)
    assert {data.get("type") for _, data in listener.received} >= {"RunStarted", "StepFinished", "LogLine"}
    for where, text in (
        ("the job store", stored),
        ("the process log", process_log),
        ("the API's answers", "\n".join(answers)),
        ("the Socket.IO events", events),
    ):
        assert seeds.leaks(text) == [], where
    # The tokens the test itself sent are not in the process log either.
    assert admin not in process_log


async def test_seeded_secrets_reach_no_bus_event_in_process(
    tmp_path: Path,
    echo: Echo,
    slapd: Slapd,
    seeds: Seeds,
    warehouse_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in seeds.env.items():
        monkeypatch.setenv(name, value)
    app_toml = write_install(tmp_path, echo, slapd, warehouse_url)
    await make_users_table(tmp_path)
    gate = tmp_path / "gate"
    gate.touch()
    seen: list[AnyEvent] = []
    database_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    async with Engine.from_path(app_toml, database_url=database_url, scheduler=False) as engine:
        engine.bus.add_listener(seen.append)
        hook_done = anyio.Event()
        engine.bus.add_listener(
            lambda e: hook_done.set() if e.job == "refused.on-failure" else None, only=(RunFinished,)
        )
        outcomes = {}
        for job in JOBS:
            run = await engine.trigger(job, params={"gate": str(gate)})
            with anyio.fail_after(60):
                outcomes[job] = await run.wait()
        with anyio.fail_after(60):
            await hook_done.wait()
    assert [outcomes[job].status for job in JOBS] == [
        "succeeded",
        "failed",
        "succeeded",
        "succeeded",
        "failed",
        "failed",
    ]
    check_sent(echo, seeds)
    published = json.dumps([msgspec.to_builtins(event) for event in seen])
    assert "LogLine" in published and "StepFinished" in published
    assert seeds.leaks(published) == []
    assert seeds.leaks(await dump_store(database_url)) == []
