"""Text the job store cannot hold, on SQLite and PostgreSQL: NUL (PostgreSQL refuses it in text and
jsonb) and lone surrogates (not UTF-8, refused by both). Outputs holding some fail their step, naming
where; params are refused at the trigger; log lines, inputs and errors are recorded escaped where the
database cannot hold them. Whatever happens, the engine keeps serving."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest

from nomaflow.engine import Engine
from nomaflow.engine.config import Install, load_install
from nomaflow.engine.config.params import ParamError
from tests.engine.conftest import PLUGINS

pytestmark = pytest.mark.anyio


def python_step(step: str, target: str, /, **kwargs: Any) -> dict[str, Any]:
    return {"name": step, "type": "python", "callable": f"enginejobs.steps:{target}", "kwargs": kwargs}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def still_serving(engine: Engine) -> None:
    """Another run, of another job, succeeds: the engine was not harmed."""
    name = unique("after")
    engine.define_job(name=name, steps=[python_step("add", "add", a=1, b=2)])
    outcome = await (await engine.trigger(name)).wait()
    assert outcome.status == "succeeded", outcome


class _NulJson(BaseHTTPRequestHandler):
    """An allowed API answering JSON that holds \\u0000 (no operator needed to make it do so)."""

    def do_GET(self) -> None:
        body = b'{"id": 7, "note": "before\\u0000after"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def nul_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NulJson)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def install(database_url: str, tmp_path: Path, nul_api: str) -> Install:
    (tmp_path / "app.toml").write_text(
        f'[connectors.default]\nurl = "{database_url}"\n\n[http]\nallowed_hosts = ["{nul_api}"]\n\n'
        f'[jobs]\nplugins = "{PLUGINS}"\nshutdown_grace_seconds = 5\n'
    )
    return load_install(tmp_path / "app.toml")


async def test_a_step_output_with_nul_fails_the_step_naming_the_path(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        name = unique("nul")
        engine.define_job(name=name, steps=[python_step("echo", "echo", text="a\x00b")])
        with anyio.fail_after(30):
            outcome = await (await engine.trigger(name)).wait()
        assert outcome.status == "failed"
        echo = outcome.step("echo")
        assert echo.error is not None
        assert echo.error.startswith("the step's output cannot be stored: output.text contains a NUL")
        stored = await engine.store.get_steps(outcome.run_id)
        assert (stored[0].status, stored[0].output, stored[0].error) == ("failed", None, echo.error)
        # The input is a record: kept, the NUL written out.
        assert stored[0].input == {"callable": "enginejobs.steps:echo", "kwargs": {"text": "a\\u0000b"}}
        run = await engine.store.get_run(outcome.run_id)
        assert run is not None and run.status == "failed"
        await still_serving(engine)


async def test_a_lone_surrogate_deep_in_an_output_is_named_too(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        name = unique("surrogate")
        engine.define_job(name=name, steps=[python_step("rows", "returns_nested_surrogate")])
        with anyio.fail_after(30):
            outcome = await (await engine.trigger(name)).wait()
        assert outcome.status == "failed"
        assert "output.rows[1].name contains a lone surrogate (\\ud800)" in (outcome.step("rows").error or "")
        await still_serving(engine)


async def test_an_allowed_api_answering_nul_in_json_fails_only_its_step(
    install: Install, nul_api: str
) -> None:
    async with Engine(install, scheduler=False) as engine:
        name = unique("api")
        step = {"name": "call", "type": "http", "url": f"http://{nul_api}/item", "retry": {"max_attempts": 1}}
        engine.define_job(name=name, steps=[step])
        with anyio.fail_after(30):
            outcome = await (await engine.trigger(name)).wait()
        assert outcome.status == "failed"
        assert "output.json.note contains a NUL character" in (outcome.step("call").error or "")
        await still_serving(engine)


async def test_log_lines_and_errors_are_recorded_escaped_where_the_database_cannot_hold_them(
    install: Install, database_kind: str
) -> None:
    async with Engine(install, scheduler=False) as engine:
        name = unique("logs")
        engine.define_job(
            name=name,
            steps=[
                # Each step's lines are written before its end: two writes, escaped (or not) apart.
                python_step("nul", "logs_nul"),
                python_step("surrogate", "logs_surrogate"),
                python_step("boom", "explode", message="bad \x00 byte"),
            ],
            retry={"max_attempts": 1},
        )
        with anyio.fail_after(30):
            outcome = await (await engine.trigger(name)).wait()
        assert outcome.status == "failed"
        assert [step.status for step in outcome.steps] == ["succeeded", "succeeded", "failed"]
        logs = await engine.store.get_logs(outcome.run_id)
        lines = {log.level: log for log in logs if not (log.fields or {}).get("event")}
        # Neither database can hold a lone surrogate: written out. A NUL is written out where the
        # database refuses it (PostgreSQL); SQLite holds it as it is.
        assert lines["warning"].message == "a lone surrogate \\udc80 here"
        nul = "\\u0000" if database_kind == "postgresql" else "\x00"
        assert lines["info"].message == f"a NUL {nul} here"
        assert lines["info"].fields == {"detail": f"x{nul}y"}
        run = await engine.store.get_run(outcome.run_id)
        assert run is not None and run.error == f"step 'boom' failed: RuntimeError: bad {nul} byte"
        await still_serving(engine)


async def test_params_the_store_cannot_record_are_refused_at_the_trigger(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        name = unique("params")
        engine.define_job(
            name=name, params={"text": ""}, steps=[python_step("echo", "echo", text="${params.text}")]
        )
        with pytest.raises(ParamError, match=r"param 'text' of job .* contains a NUL character"):
            await engine.trigger(name, params={"text": "a\x00b"})
        with pytest.raises(ParamError, match=r"param 'text' of job .* contains a lone surrogate"):
            await engine.trigger(name, params={"text": "\udc80"})
        assert (await engine.store.list_runs(job=name)).runs == []  # nothing was recorded
        await still_serving(engine)


async def test_after_every_kind_of_bad_value_cron_still_fires_and_the_store_is_ok(install: Install) -> None:
    """The section's triggers one after the other, on an engine that schedules: each is contained."""
    from datetime import UTC, datetime

    from nomaflow.engine import ManualClock
    from tests.engine.conftest import quiet_install, until

    clock = ManualClock(datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC))
    async with Engine(quiet_install(install), clock=clock, scheduler=True) as engine:
        engine.define_job(name="tick", schedule="* * * * * *", steps=[python_step("t", "add", a=1, b=1)])
        engine.define_job(name="nul", steps=[python_step("echo", "echo", text="a\x00b")])
        engine.define_job(name="surrogate", steps=[python_step("rows", "returns_nested_surrogate")])
        engine.define_job(
            name="logs", steps=[python_step("nul", "logs_nul"), python_step("s", "logs_surrogate")]
        )
        engine.define_job(
            name="takes", params={"text": ""}, steps=[python_step("e", "echo", text="${params.text}")]
        )
        with anyio.fail_after(30):
            for name in ("nul", "surrogate", "logs"):
                await (await engine.trigger(name)).wait()
        with pytest.raises(ParamError):
            await engine.trigger("takes", params={"text": "\x00"})
        await until(lambda: engine.scheduler is not None and engine.scheduler.waiting)
        fire = engine.next_fires()["tick"]
        clock.set(fire)
        with anyio.fail_after(10):
            while not [r for r in (await engine.store.list_runs(job="tick")).runs if r.status == "succeeded"]:
                await anyio.lowlevel.checkpoint()
        assert engine.store_health.ok and engine.in_flight() == []
        await still_serving(engine)
