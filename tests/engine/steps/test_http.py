"""The http step through the Engine, against a real HTTP server: an ASGI app served by uvicorn on a free
port in a background thread. Jobs run on SQLite and PostgreSQL job stores alike."""

from __future__ import annotations

import base64
import socket
import threading
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import msgspec
import pytest
import uvicorn
from sqlalchemy import select

from nomaflow.actors.events import StepRetrying
from nomaflow.actors.outcome import RunOutcome
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.config.problems import ConfigError
from nomaflow.engine.steps.http import HttpStep
from nomaflow.engine.store import create_engine
from nomaflow.engine.store.tables import job_logs, job_runs, step_runs

pytestmark = pytest.mark.anyio

BIG_BYTES = 100 * 1024 * 1024
_CHUNK = b"x" * 65536


# --- the server -------------------------------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Request:
    """One request as the test server's routes see it."""

    scope: dict[str, Any]
    receive: Any
    send: Any
    path: str
    parts: list[str]
    query: dict[str, list[str]]


@dataclass
class Server:
    port: int
    hits: list[Hit] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    big_sent: int = 0
    arrived: dict[str, threading.Event] = field(default_factory=dict)  # set when /hook/<key> is called

    def expect(self, key: str) -> threading.Event:
        return self.arrived.setdefault(key, threading.Event())

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits_for(self, marker: str) -> list[Hit]:
        return [hit for hit in self.hits if marker in hit.path or marker in hit.query.get("m", [])]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = parse_qs(scope["query_string"].decode())
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        path: str = scope["path"]
        self.hits.append(Hit(scope["method"], path, query, headers, body))
        parts = path.strip("/").split("/")
        route = self._routes().get(parts[0])
        if route is None:
            await _respond(send, 404, {"error": "no such route"})
        else:
            await route(Request(scope, receive, send, path, parts, query))

    def _routes(self) -> dict[str, Callable[[Request], Awaitable[None]]]:
        return {
            "json": self._json,
            "flaky": self._flaky,
            "status": self._status,
            "redirect": self._redirect,
            "hook": self._hook,
            "login": self._login,
            "query": self._query,
            "hang": self._hang,
            "big": lambda request: self._big(request.receive, request.send),
        }

    async def _json(self, request: Request) -> None:
        await _respond(request.send, 200, {"message": "hello", "items": [1, 2, 3]})

    async def _flaky(self, request: Request) -> None:
        """/flaky/<key>: 503 twice, then 200."""
        count = self.counters[request.path] = self.counters.get(request.path, 0) + 1
        if count < 3:
            await _respond(request.send, 503, {"error": "warming up"})
        else:
            await _respond(request.send, 200, {"attempt": count})

    async def _status(self, request: Request) -> None:
        """/status/<code>[?retry_after=...]"""
        query, code = request.query, int(request.parts[1])
        extra = [(b"retry-after", query["retry_after"][0].encode())] if "retry_after" in query else []
        await _respond(request.send, code, {"status": code}, extra)

    async def _redirect(self, request: Request) -> None:
        """/redirect?to=<url>"""
        location = request.query["to"][0].encode()
        await request.send(
            {"type": "http.response.start", "status": 302, "headers": [(b"location", location)]}
        )
        await request.send({"type": "http.response.body", "body": b""})

    async def _hook(self, request: Request) -> None:
        """/hook/<key>: a chat webhook."""
        await request.send({"type": "http.response.start", "status": 204, "headers": []})
        await request.send({"type": "http.response.body", "body": b""})
        self.expect(request.parts[1]).set()

    async def _login(self, request: Request) -> None:
        """/login/<session>: a session cookie, as a login form answers."""
        cookie = f"session={request.parts[1]}; Path=/; HttpOnly".encode()
        await _respond(request.send, 200, {"logged_in": True}, [(b"set-cookie", cookie)])

    async def _query(self, request: Request) -> None:
        """The query string as it arrived, byte for byte."""
        answer = {"path": request.path, "query": request.scope["query_string"].decode()}
        await _respond(request.send, 200, answer)

    async def _hang(self, request: Request) -> None:
        """Never answers; returns once the client gives up."""
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def _big(self, receive: Any, send: Any) -> None:
        """100 MB of body, stopping as soon as the client hangs up."""
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(BIG_BYTES).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = anyio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            sent = 0
            while sent < BIG_BYTES and not gone.is_set():
                await send({"type": "http.response.body", "body": _CHUNK, "more_body": True})
                sent += len(_CHUNK)
                self.big_sent = sent
                # uvicorn drops writes to a closed connection without yielding: let the watcher run.
                await anyio.lowlevel.checkpoint()
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()


async def _respond(
    send: Any, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = msgspec.json.encode(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # The socket listens before the thread starts, so the first request queues instead of racing start-up.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    app = Server(port=sock.getsockname()[1])
    config = uvicorn.Config(
        app, lifespan="off", ws="none", log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        runner.should_exit = True
        thread.join(10)
        sock.close()


# --- helpers ----------------------------------------------------------------------------------------


@asynccontextmanager
async def started(
    tmp_path: Path,
    database_url: str,
    server: Server,
    *,
    http: str = "",
    hosts: list[str] | None = None,
    clock: ManualClock | None = None,
    jobs: str = "",
) -> AsyncIterator[Engine]:
    allowed = msgspec.json.encode(hosts if hosts is not None else [f"127.0.0.1:{server.port}"]).decode()
    app = tmp_path / "app.toml"
    app.write_text(f"[http]\nallowed_hosts = {allowed}\n{http}\n[jobs]\n{jobs}\n", encoding="utf-8")
    async with Engine.from_path(app, database_url=database_url, scheduler=False, clock=clock) as engine:
        yield engine


def http_step(server: Server, path: str, **options: Any) -> dict[str, Any]:
    return {"name": options.pop("name", "call"), "type": "http", "url": f"{server.base}{path}", **options}


async def run_job(engine: Engine, steps: list[dict[str, Any]], **job: Any) -> RunOutcome:
    name = f"job-{uuid.uuid4().hex[:8]}"
    dry_run = job.pop("dry_run", False)
    engine.define_job(name=name, steps=steps, **job)
    run = await engine.trigger(name, dry_run=dry_run)
    with anyio.fail_after(60):
        return await run.wait()


def marker() -> str:
    return uuid.uuid4().hex


NO_RETRY = {"max_attempts": 1}
FAST_RETRY = {"max_attempts": 3, "initial_delay_seconds": 0}


# --- behaviour --------------------------------------------------------------------------------------


async def test_http_output_feeds_the_next_python_step(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    steps = [
        http_step(server, "/json", name="fetch"),
        {
            "name": "use",
            "type": "python",
            "callable": "builtins:dict",
            "kwargs": {
                "greeting": "${previous.output.json.message}",
                "second": "${steps.fetch.output.json.items.1}",
                "status": "${steps.fetch.output.status}",
                "content_type": "${steps.fetch.output.headers.content-type}",
            },
        },
    ]
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, steps)
    assert outcome.succeeded, outcome
    fetched = outcome.step("fetch").output
    assert fetched["status"] == 200
    assert fetched["json"] == {"message": "hello", "items": [1, 2, 3]}
    assert outcome.step("use").output == {
        "greeting": "hello",
        "second": 2,
        "status": 200,
        "content_type": "application/json",
    }


async def test_503_503_200_succeeds_on_the_third_attempt(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    key = marker()
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [http_step(server, f"/flaky/{key}")], retry=FAST_RETRY)
    assert outcome.succeeded, outcome
    call = outcome.step("call")
    assert call.attempts == 3
    assert call.output["json"] == {"attempt": 3}
    assert [hit.path for hit in server.hits_for(key)] == [f"/flaky/{key}"] * 3


async def test_404_fails_at_once_without_retry(tmp_path: Path, database_url: str, server: Server) -> None:
    m = marker()
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [http_step(server, "/status/404", params={"m": m})], retry=FAST_RETRY)
    assert outcome.status == "failed"
    call = outcome.step("call")
    assert call.attempts == 1
    assert call.error is not None
    assert f"step 'call': GET {server.base}/status/404: 404 Not Found" in call.error
    assert len(server.hits_for(m)) == 1


async def test_expected_status_accepts_a_listed_error_code(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    step = http_step(server, "/status/404", expected_status=["2xx", 404])
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [step], retry=NO_RETRY)
    assert outcome.succeeded, outcome
    assert outcome.step("call").output["json"] == {"status": 404}


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_delay"),
    [
        (503, "7", 7.0),  # seconds, longer than the policy's own 1 s
        (429, "7", 7.0),
        (503, "7200", 60.0),  # never past the policy's max_delay_seconds
        (503, "date+30", 30.0),  # an HTTP date, measured against the engine's clock
    ],
)
async def test_retry_after_is_honoured_within_the_policy(
    tmp_path: Path, database_url: str, server: Server, status: int, retry_after: str, expected_delay: float
) -> None:
    clock = ManualClock()
    if retry_after.startswith("date+"):
        retry_after = format_datetime(clock.now() + timedelta(seconds=int(retry_after[5:])), usegmt=True)
    m = marker()
    policy = {"max_attempts": 2, "initial_delay_seconds": 1, "max_delay_seconds": 60}
    step = http_step(server, f"/status/{status}", params={"retry_after": retry_after, "m": m})
    # The manual clock moves only when told: the engine's heartbeat is pushed far away so that the
    # step's backoff is the next thing due, and shutdown does not wait on the clock.
    quiet = "heartbeat_seconds = 3600\ninterrupted_after_seconds = 7200\nshutdown_grace_seconds = 0"
    async with started(tmp_path, database_url, server, clock=clock, jobs=quiet) as engine:
        name = f"job-{m[:8]}"
        engine.define_job(name=name, steps=[step], retry=policy)
        run = await engine.trigger(name)
        with anyio.fail_after(30):
            async for event in run.events():
                if isinstance(event, StepRetrying):
                    assert event.delay_seconds == pytest.approx(expected_delay)
                    break
            # The second attempt waits on the engine's clock for exactly that long, and no less.
            due = clock.now() + timedelta(seconds=expected_delay)
            while clock.next_deadline() != due:
                await clock.wait_for_sleepers(clock.sleepers + 1)
            clock.advance(expected_delay - 0.5)
            assert clock.next_deadline() == due
            assert len(server.hits_for(m)) == 1
            clock.advance(0.5)
            outcome = await run.wait()
    assert outcome.status == "failed"
    assert outcome.step("call").attempts == 2
    assert len(server.hits_for(m)) == 2


async def test_a_network_timeout_is_retried(tmp_path: Path, database_url: str, server: Server) -> None:
    m = marker()
    policy = {"max_attempts": 2, "initial_delay_seconds": 0}
    async with started(tmp_path, database_url, server, http="timeout_seconds = 0.2") as engine:
        outcome = await run_job(engine, [http_step(server, "/hang", params={"m": m})], retry=policy)
    assert outcome.status == "failed"
    call = outcome.step("call")
    assert call.attempts == 2
    assert call.error is not None
    assert f"step 'call': GET {server.base}/hang: timed out" in call.error
    assert len(server.hits_for(m)) == 2


async def test_the_step_timeout_bounds_the_whole_request(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    step = http_step(server, "/hang", timeout_seconds=0.3)
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [step], retry={"max_attempts": 2, "initial_delay_seconds": 0})
    assert outcome.status == "failed"
    assert outcome.step("call").attempts == 2
    assert outcome.step("call").error == "timed out after 0.3 s"


async def test_a_connection_error_is_retryable(tmp_path: Path, database_url: str, server: Server) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    step = {"name": "call", "type": "http", "url": f"http://127.0.0.1:{port}/x"}
    async with started(tmp_path, database_url, server, hosts=["127.0.0.1"]) as engine:
        outcome = await run_job(engine, [step], retry={"max_attempts": 2, "initial_delay_seconds": 0})
    assert outcome.status == "failed"
    assert outcome.step("call").attempts == 2
    assert "ConnectError" in (outcome.step("call").error or "")


async def test_a_redirect_to_a_host_not_allowed_is_refused(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    m = marker()
    # Same server, another name: only "127.0.0.1:<port>" is allowed, "localhost" is not.
    elsewhere = f"http://localhost:{server.port}/json?m={m}"
    step = http_step(server, "/redirect", params={"to": elsewhere})
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [step], retry=FAST_RETRY)
    assert outcome.status == "failed"
    call = outcome.step("call")
    assert call.attempts == 1  # not retryable
    assert call.error is not None
    assert f"refused to follow a redirect to http://localhost:{server.port}/json" in call.error
    assert "not allowed" in call.error
    assert server.hits_for(m) == []  # never sent


async def test_a_redirect_within_allowed_hosts_is_followed(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    step = http_step(server, "/redirect", params={"to": "/json"})
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [step], retry=NO_RETRY)
    assert outcome.succeeded, outcome
    assert outcome.step("call").output["json"]["message"] == "hello"

    step = http_step(
        server, "/redirect", params={"to": "/json"}, follow_redirects=False, expected_status="3xx"
    )
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, [step], retry=NO_RETRY)
    assert outcome.step("call").output["headers"]["location"] == "/json"


async def test_authorization_is_dropped_on_a_redirect_to_another_host(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    m = marker()
    elsewhere = f"http://localhost:{server.port}/json?m={m}"
    step = http_step(
        server, "/redirect", params={"to": elsewhere, "m": m}, auth={"type": "bearer", "token": "t-123"}
    )
    hosts = [f"127.0.0.1:{server.port}", f"localhost:{server.port}"]
    async with started(tmp_path, database_url, server, hosts=hosts) as engine:
        outcome = await run_job(engine, [step], retry=NO_RETRY)
    assert outcome.succeeded, outcome
    first, second = server.hits_for(m)
    assert first.headers["authorization"] == "Bearer t-123"
    assert second.headers["host"] == f"localhost:{server.port}"
    assert "authorization" not in second.headers


async def test_the_worked_example_posts_a_failure_to_a_chat_webhook(
    tmp_path: Path, database_url: str, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/steps/http.md's example: an on_failure http step posting the failure to a webhook."""
    key = marker()
    monkeypatch.setenv("NOMAFLOW_TEST_CHAT_KEY", key)
    posted = server.expect(key)
    notify = http_step(
        server,
        "/hook/${env.NOMAFLOW_TEST_CHAT_KEY}",
        name="tell-the-team",
        method="POST",
        json={"text": "Nomaflow: ${params.job} failed at step '${params.failed_step}': ${params.error}"},
        expected_status=[200, 204],
    )
    failing = {"name": "load", "type": "python", "callable": "json:loads", "kwargs": {"s": "not json"}}
    async with started(tmp_path, database_url, server) as engine:
        engine.define_job(name="nightly-import", steps=[failing], on_failure=[notify])
        outcome = await (await engine.trigger("nightly-import")).wait()
        assert outcome.status == "failed"
        with anyio.fail_after(30):
            await anyio.to_thread.run_sync(posted.wait, abandon_on_cancel=True)
    (hit,) = server.hits_for(key)
    assert hit.method == "POST"
    message = msgspec.json.decode(hit.body)["text"]
    assert message.startswith("Nomaflow: nightly-import failed at step 'load': ")
    assert "JSONDecodeError: Expecting value" in message


async def test_a_run_time_parameter_cannot_point_a_step_elsewhere(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    steps = [{"name": "call", "type": "http", "url": "${params.target}"}]
    async with started(tmp_path, database_url, server) as engine:
        for target in (
            f"http://localhost:{server.port}/json",
            f"http://127.0.0.1:{server.port}@localhost:{server.port}/json",  # user info is not the host
            f"http://127.0.0.1:{server.port + 1}/json",  # the port is part of the rule
        ):
            name = f"job-{marker()[:8]}"
            engine.define_job(name=name, steps=steps, params={"target": ""}, retry=FAST_RETRY)
            run = await engine.trigger(name, params={"target": target})
            outcome = await run.wait()
            assert outcome.status == "failed"
            assert outcome.step("call").attempts == 1
            assert "step 'call': url: host " in (outcome.step("call").error or "")
            assert "is not allowed" in (outcome.step("call").error or "")


async def test_a_100_mb_response_is_capped_in_bounded_memory(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    server.big_sent = 0
    async with started(tmp_path, database_url, server) as engine:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            outcome = await run_job(engine, [http_step(server, "/big")], retry=NO_RETRY)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        stored = await engine.store.get_steps(outcome.run_id)
    assert outcome.succeeded, outcome
    output = outcome.step("call").output
    assert output["truncated"] is True
    assert output["headers"]["content-length"] == str(BIG_BYTES)
    assert len(output["text"]) == 1024 * 1024  # [http] max_response_bytes, by default
    # The body is streamed and dropped at the cap: the whole run allocates a few MB, never 100 MB.
    assert peak - before < 16 * 1024 * 1024, f"peak {peak - before} bytes"
    assert server.big_sent < BIG_BYTES  # the rest was never even sent
    # What is stored is the actors' capped snapshot, not the megabyte.
    assert stored[0].output["truncated"] is True
    assert len(msgspec.json.encode(stored[0].output)) < 70_000


async def test_dry_run_sends_a_get_but_not_a_post(tmp_path: Path, database_url: str, server: Server) -> None:
    m = marker()
    steps = [
        http_step(server, "/json", name="read", params={"m": m}),
        http_step(
            server,
            "/json",
            name="write",
            method="POST",
            params={"m": m, "api_key": "k-123"},
            json={"text": "${previous.output.json.message}", "password": "p-123"},
            headers={"X-Trace": "t1", "X-Api-Key": "k-456"},
        ),
    ]
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, steps, retry=NO_RETRY, dry_run=True)
    assert outcome.succeeded, outcome
    assert [hit.method for hit in server.hits_for(m)] == ["GET"]
    write = outcome.step("write").output
    assert write["dry_run"] is True
    assert write["sent"] is False
    request = write["request"]
    assert request["method"] == "POST"
    assert request["url"] == f"{server.base}/json?m={m}&api_key=%2A%2A%2A"
    assert request["json"] == {"text": "hello", "password": "***"}
    assert request["headers"]["x-trace"] == "t1"
    assert request["headers"]["x-api-key"] == "***"


async def test_a_step_of_its_own_dry_run_sends_no_write_but_still_reads(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    m = marker()
    steps = [
        http_step(server, "/json", name="post", method="POST", params={"m": m}, json={"n": 1}, dry_run=True),
        http_step(server, "/json", name="delete", method="DELETE", params={"m": m}, dry_run=True),
        http_step(server, "/json", name="peek", params={"m": m}, dry_run=True),  # a GET is still sent
        http_step(server, "/json", name="put", method="PUT", params={"m": m}, body="real"),
    ]
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, steps, retry=NO_RETRY)
        stored = await engine.store.get_steps(outcome.run_id)
    assert outcome.succeeded, outcome
    assert [hit.method for hit in server.hits_for(m)] == ["GET", "PUT"]
    for name, method in (("post", "POST"), ("delete", "DELETE")):
        output = outcome.step(name).output
        assert output["dry_run"] is True and output["sent"] is False
        assert output["request"]["method"] == method
    assert outcome.step("post").output["request"]["json"] == {"n": 1}
    assert outcome.step("peek").output["status"] == 200
    assert {row.step_name: row.dry_run for row in stored} == {
        "post": True,
        "delete": True,
        "peek": True,
        "put": False,
    }


async def test_the_bearer_token_is_in_no_stored_row(
    tmp_path: Path, database_url: str, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    password = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("NOMAFLOW_TEST_TOKEN", token)
    monkeypatch.setenv("NOMAFLOW_TEST_PASSWORD", password)
    m = marker()
    steps = [
        http_step(
            server,
            "/json",
            name="bearer",
            params={"m": m},
            auth={"type": "bearer", "token": "${env.NOMAFLOW_TEST_TOKEN}"},
        ),
        http_step(
            server,
            "/json",
            name="header",
            params={"m": m},
            headers={
                "Authorization": "Bearer ${env.NOMAFLOW_TEST_TOKEN}",
                "X-Api-Key": "${env.NOMAFLOW_TEST_TOKEN}",
            },
        ),
        http_step(
            server,
            "/json",
            name="basic",
            params={"m": m},
            auth={"type": "basic", "username": "svc", "password": "${env.NOMAFLOW_TEST_PASSWORD}"},
        ),
        http_step(
            server,
            "/hook/${env.NOMAFLOW_TEST_TOKEN}",  # a webhook whose key is part of its path
            name="post",
            method="POST",
            json={"text": "key ${env.NOMAFLOW_TEST_TOKEN}", "ok": True},
            auth={"type": "bearer", "token": "${env.NOMAFLOW_TEST_TOKEN}"},
        ),
        http_step(
            server,
            "/status/401/${env.NOMAFLOW_TEST_TOKEN}",  # its error message names the path
            name="refused",
            params={"m": m},
            auth={"type": "bearer", "token": "${env.NOMAFLOW_TEST_TOKEN}"},
        ),
    ]
    async with started(tmp_path, database_url, server) as engine:
        # A dry run first: the POST is recorded, not sent; then the real run.
        rehearsal = await run_job(engine, steps, retry=NO_RETRY, dry_run=True)
        outcome = await run_job(engine, steps, retry=NO_RETRY)
    assert rehearsal.step("post").output["sent"] is False
    assert rehearsal.step("post").output["request"]["url"] == f"{server.base}/hook/***"
    assert rehearsal.step("post").output["request"]["json"] == {"text": "key ***", "ok": True}
    assert outcome.step("refused").error == (
        f"step 'refused': GET {server.base}/status/401/***: 401 Unauthorized: {{\"status\":401}}"
    )
    # Everything was sent with the real credentials...
    sent = server.hits_for(m)
    assert [hit.headers.get("authorization") for hit in sent[:2]] == [f"Bearer {token}"] * 2
    # The webhook got its key once: the dry run did not post.
    assert [hit.method for hit in server.hits_for(token)] == ["GET", "POST", "GET"]
    assert sent[1].headers["x-api-key"] == token
    assert sent[2].headers["authorization"].startswith("Basic ")
    assert outcome.status == "failed" and outcome.step("refused").status == "failed"
    # ...and none of them was stored: every column of every row, run, steps and logs.
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            rows: list[Any] = []
            for table in (job_runs, step_runs, job_logs):
                rows.extend((await connection.execute(select(table))).all())
    finally:
        await database.dispose()
    dump = "\n".join(repr(tuple(row)) for row in rows)
    assert outcome.run_id in dump and "***" in dump  # the rows are there, redacted
    assert token not in dump
    assert password not in dump
    assert base64.b64encode(f"svc:{password}".encode()).decode() not in dump


async def test_cookies_are_shared_by_the_steps_of_a_run_and_never_cross_runs(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    m, session = marker(), f"s-{marker()}"
    login_then_call = [
        http_step(server, f"/login/{session}", name="login"),
        http_step(server, "/json", name="call", params={"m": m, "who": "a"}),
    ]
    other_job = [http_step(server, "/json", name="call", params={"m": m, "who": "b"})]
    async with started(tmp_path, database_url, server) as engine:
        first = await run_job(engine, login_then_call, retry=NO_RETRY)
        other = await run_job(engine, other_job, retry=NO_RETRY)
        again = await run_job(engine, other_job, retry=NO_RETRY)
        http = engine.install.step_types["http"]
        assert isinstance(http, HttpStep)
        jars = http._jars
    assert first.succeeded and other.succeeded and again.succeeded
    calls = server.hits_for(m)
    assert [hit.query["who"] for hit in calls] == [["a"], ["b"], ["b"]]
    # The login step's cookie went with the same run's next step...
    assert calls[0].headers.get("cookie") == f"session={session}"
    # ...and with no other run's, though they called the same host right after.
    assert "cookie" not in calls[1].headers and "cookie" not in calls[2].headers
    assert jars == {}  # each run's jar went with its end
    # The session is a credential: it is in no output (Set-Cookie is never kept).
    assert session not in repr(first.step("login").output)


async def test_the_url_keeps_its_own_query_string_and_params_are_appended(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    m = marker()
    steps = [
        http_step(server, f"/query?limit=10&mark=kept&m={m}", name="alone"),
        http_step(server, f"/query?limit=10&mark=kept&m={m}", name="both", params={"page": 2, "limit": 20}),
        http_step(server, f"/query?a=1%2C2&flag&m={m}", name="as-written", params={"tag": ["x", "y z"]}),
    ]
    async with started(tmp_path, database_url, server) as engine:
        outcome = await run_job(engine, steps, retry=NO_RETRY)
    assert outcome.succeeded, outcome
    queries = [outcome.step(name).output["json"]["query"] for name in ("alone", "both", "as-written")]
    assert queries == [
        f"limit=10&mark=kept&m={m}",
        f"limit=10&mark=kept&m={m}&page=2&limit=20",  # appended after the URL's own; both limits sent
        f"a=1%2C2&flag&m={m}&tag=x&tag=y+z",  # the URL's part byte for byte
    ]
    assert [hit.path for hit in server.hits_for(m)] == ["/query"] * 3


# --- load-time problems name the step and the field -------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"url": "http://example.com/x"}, "url", "host example.com:80 is not allowed"),
        ({"url": "ftp://127.0.0.1/x"}, "url", "expected an http:// or https:// URL"),
        ({"method": "FETCH"}, "method", "'FETCH' is not one of GET, HEAD, POST"),
        ({"json": {"a": 1}, "body": "x"}, "body", "give only one of json, body and form"),
        ({"expected_status": ["2xx", "20x"]}, "expected_status", "[1] '20x' is not a status code or range"),
        ({"expected_status": 700}, "expected_status", "700 is outside 100-599"),
        ({"max_response_bytes": 0}, "max_response_bytes", "expected a number of bytes >= 1"),
        ({"response_headers": ["Set-Cookie"]}, "response_headers[0]", "carries credentials"),
        ({"auth": {"type": "token", "token": "x"}}, "auth.type", "invalid value 'token'"),
        ({"auth": {"type": "basic", "username": "u"}}, "auth", "missing required field 'password'"),
        ({"timeout": 3}, "timeout", "unknown"),
    ],
)
async def test_bad_options_are_reported_at_load_time(
    tmp_path: Path, database_url: str, server: Server, options: dict[str, Any], field: str, message: str
) -> None:
    step = {"name": "notify", "type": "http", "url": f"{server.base}/json", **options}
    async with started(tmp_path, database_url, server) as engine:
        with pytest.raises(ConfigError) as caught:
            engine.define_job(name="bad", steps=[step])
    problems = [(problem.path, problem.message) for problem in caught.value.problems]
    assert any(path == f"steps[0].{field}" and message in text for path, text in problems), problems


async def test_an_empty_allow_list_allows_nothing(tmp_path: Path, database_url: str) -> None:
    app = tmp_path / "app.toml"
    app.write_text("", encoding="utf-8")
    async with Engine.from_path(app, database_url=database_url, scheduler=False) as engine:
        with pytest.raises(ConfigError, match=r"steps\[0\]\.url.*allowed_hosts in app.toml is empty"):
            engine.define_job(
                name="bad", steps=[{"name": "n", "type": "http", "url": "https://example.com/"}]
            )


async def test_bad_rendered_options_fail_the_run_naming_step_and_field(
    tmp_path: Path, database_url: str, server: Server
) -> None:
    steps = [{"name": "notify", "type": "http", "url": f"{server.base}/json", "method": "${params.verb}"}]
    async with started(tmp_path, database_url, server) as engine:
        engine.define_job(name="verbs", steps=steps, params={"verb": "GET"}, retry=FAST_RETRY)
        outcome = await (await engine.trigger("verbs", params={"verb": "YELL"})).wait()
    assert outcome.status == "failed"
    assert outcome.step("notify").attempts == 1
    assert (
        outcome.step("notify").error
        == "step 'notify': method: 'YELL' is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    )
