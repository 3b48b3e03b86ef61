"""OpenTelemetry, optional: with tracing on, a run is a trace and each step attempt a span of it, and the
http step sends the attempt's trace context to the server it calls; with it off, nothing of
OpenTelemetry is imported. Spans go to the SDK's in-memory exporter through a TracerProvider handed to
the Engine (the global provider can be set only once per process).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nomaflow.engine import Engine
from nomaflow.engine.config import ConfigError, Install
from nomaflow.engine.telemetry.tracing import TracingUnavailable
from tests.engine.conftest import make_install, quiet_install

pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).resolve().parents[3]


@pytest.fixture
def database_kind() -> str:
    return "sqlite"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


class Headers:
    """An ASGI app that answers 200 and keeps the headers of each request, by path."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen[scope["path"]] = {name.decode(): value.decode() for name, value in scope["headers"]}
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, Headers]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before the thread starts: the first request queues, no race
    app = Headers()
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_run_is_a_trace_and_each_step_attempt_a_span(
    install: Install, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    job: dict[str, Any] = {
        "name": "traced",
        "retry": {"max_attempts": 2, "initial_delay_seconds": 0},
        "steps": [
            {"name": "add", "type": "python", "callable": "enginejobs.steps:add", "kwargs": {"a": 1, "b": 2}},
            {"name": "flaky", "type": "python", "callable": "enginejobs.flaky:fails_first_attempt"},
        ],
    }
    async with Engine(quiet_install(install), scheduler=False, tracer_provider=provider) as engine:
        engine.define_job(**job)
        run = await engine.trigger("traced")
        with anyio.fail_after(60):
            outcome = await run.wait()
    assert outcome.status == "succeeded", outcome
    spans = exporter.get_finished_spans()
    [root] = [span for span in spans if span.parent is None]
    assert root.name == "run traced"
    assert attributes(root) == {
        "nomaflow.job": "traced",
        "nomaflow.run_id": run.run_id,
        "nomaflow.triggered_by": "api",
        "nomaflow.status": "succeeded",
    }
    steps = sorted((span for span in spans if span.parent is not None), key=lambda span: span.start_time or 0)
    assert [
        (span.name, attributes(span)["nomaflow.attempt"], attributes(span)["nomaflow.status"])
        for span in steps
    ] == [("step add", 1, "succeeded"), ("step flaky", 1, "failed"), ("step flaky", 2, "succeeded")]
    assert root.context is not None
    for span in steps:
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.context is not None and span.context.trace_id == root.context.trace_id
        assert {
            key: attributes(span)[key] for key in ("nomaflow.job", "nomaflow.run_id", "nomaflow.step")
        } == {
            "nomaflow.job": "traced",
            "nomaflow.run_id": run.run_id,
            "nomaflow.step": span.name.removeprefix("step "),
        }
    assert [event.name for event in steps[1].events] == ["exception"]


async def test_the_http_step_sends_the_step_attempts_trace_context(
    tmp_path: Path,
    database_url: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    http_server: tuple[str, Headers],
) -> None:
    address, app = http_server
    install = make_install(tmp_path, database_url, f'[http]\nallowed_hosts = ["{address}"]\n')
    path = f"/{uuid.uuid4().hex}"
    async with Engine(quiet_install(install), scheduler=False, tracer_provider=provider) as engine:
        engine.define_job(
            name="calls", steps=[{"name": "call", "type": "http", "url": f"http://{address}{path}"}]
        )
        with anyio.fail_after(60):
            outcome = await (await engine.trigger("calls")).wait()
    assert outcome.status == "succeeded", outcome
    [step] = [span for span in exporter.get_finished_spans() if span.name == "step call"]
    assert step.context is not None
    version, trace_id, span_id, flags = app.seen[path]["traceparent"].split("-")
    assert (version, int(trace_id, 16), int(span_id, 16)) == (
        "00",
        step.context.trace_id,
        step.context.span_id,
    )
    assert int(flags, 16) & 1  # sampled


async def test_the_setting_in_app_toml_turns_tracing_on_and_the_engine_can_turn_it_off(
    tmp_path: Path, database_url: str
) -> None:
    install = make_install(tmp_path, database_url, "[telemetry]\nopentelemetry = true\n")
    assert Engine(install, scheduler=False).telemetry.tracer is not None  # on the global provider
    assert Engine(install, scheduler=False, opentelemetry=False).telemetry.tracer is None
    assert Engine(make_install(tmp_path, database_url), scheduler=False).telemetry.tracer is None


def test_without_tracing_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    """In a fresh interpreter, a run with tracing off (the default) imports no OpenTelemetry module. (A
    process that imports FastAPI has some loaded anyway: recent FastAPI imports opentelemetry-api.)
    The capture handler on the root logger leaves Python's last-resort handler working too."""
    (tmp_path / "app.toml").write_text("[jobs]\nscheduler_enabled = false\n", encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import logging
        import sys
        import anyio
        from nomaflow.engine import Engine

        async def main():
            async with Engine.from_path({str(tmp_path / "app.toml")!r}) as engine:
                step = {{"name": "s", "type": "python", "callable": "builtins:dict"}}
                engine.define_job(name="one", steps=[step])
                outcome = await (await engine.trigger("one")).wait()
                assert outcome.status == "succeeded", outcome
                # No logging configured: a warning still reaches stderr through Python's last resort.
                logging.getLogger("anything").warning("still shown")

        anyio.run(main)
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        print(loaded, "nomaflow.engine.telemetry.otel" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] False"
    assert done.stderr.splitlines() == ["still shown"]


async def test_tracing_asked_for_without_opentelemetry_says_which_extra_to_install(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # as if the API were not installed
    with pytest.raises(ConfigError, match=r"telemetry\.opentelemetry: .*pip install 'nomaflow\[otel\]'"):
        make_install(tmp_path, database_url, "[telemetry]\nopentelemetry = true\n")
    monkeypatch.setitem(sys.modules, "nomaflow.engine.telemetry.otel", None)
    with pytest.raises(TracingUnavailable, match=r"pip install 'nomaflow\[otel\]'"):
        Engine(make_install(tmp_path, database_url), scheduler=False, opentelemetry=True)
