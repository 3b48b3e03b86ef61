"""Records of the standard logging module made while a step runs reach that run's log, live (bus events,
which Socket.IO relays) and stored, with their level; bounded per run; scrubbed; and nothing is
captured outside steps. Nomaflow's own records carry run_id and job.

The store is only the backdrop here, so these run on SQLite alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from nomaflow.actors.events import LogLine
from nomaflow.engine import Engine, RunHandle
from nomaflow.engine.config import Install
from nomaflow.engine.store import LogRow
from nomaflow.engine.telemetry.capture import CaptureHandler
from nomaflow.engine.telemetry.fields import StepFields
from nomaflow.engine.telemetry.process_log import JsonFormatter
from tests.engine.conftest import gate_of, make_install, quiet_install

pytestmark = pytest.mark.anyio


@pytest.fixture
def database_kind() -> str:
    return "sqlite"


@pytest.fixture
def lib_at_debug() -> Iterator[None]:
    """The `lib` logger lets every record through (the root stays at WARNING, as in a plain app)."""
    lib = logging.getLogger("lib")
    lib.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        lib.setLevel(logging.NOTSET)


def step(name: str, target: str, /, *, isolation: str = "thread", **kwargs: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "python",
        "callable": f"enginejobs.logging_steps:{target}",
        "kwargs": kwargs,
        "isolation": isolation,
    }


@contextlib.asynccontextmanager
async def engine_with(install: Install, **options: Any) -> AsyncIterator[Engine]:
    async with Engine(quiet_install(install), scheduler=False, **options) as engine:
        yield engine


async def run_job(engine: Engine, *steps: dict[str, Any], **job: Any) -> RunHandle:
    name = f"job-{uuid.uuid4().hex[:8]}"
    engine.define_job(name=name, steps=list(steps), **job)
    return await engine.trigger(name)


async def finished(run: RunHandle) -> None:
    with anyio.fail_after(60):
        outcome = await run.wait()
    assert outcome.status == "succeeded", outcome


async def captured(engine: Engine, run: RunHandle) -> list[LogRow]:
    """The run's stored lines that came from the logging module (transitions and ctx.log lines aside)."""
    return [row for row in await engine.store.get_logs(run.run_id) if "logger" in (row.fields or {})]


async def live_line(run: RunHandle, message: str) -> LogLine:
    async with contextlib.aclosing(run.events()) as events:  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, LogLine) and event.message == message:
                return event
    raise AssertionError(f"the run ended without logging {message!r}")


@pytest.mark.parametrize(
    ("target", "isolation"),
    [
        ("warns", "thread"),  # async: in the step's own task
        ("warns_in_thread", "thread"),  # sync: in a worker thread
        ("warns_from_own_thread", "thread"),  # a thread the step starts, with its context copied
        ("warns_in_thread", "process"),  # in a child process, handed back to this one
    ],
)
async def test_a_library_warning_shows_in_the_run_log_live_and_stored(
    install: Install, target: str, isolation: str
) -> None:
    async with engine_with(install) as engine:
        run = await run_job(engine, step("work", target, isolation=isolation, text="x"))
        with anyio.fail_after(60):
            live = await live_line(run, "x")
        assert (live.level, live.step, live.fields) == ("warning", "work", {"logger": "lib"})
        await finished(run)
        stored = await captured(engine, run)
        assert [(row.level, row.step_name, row.message, row.fields) for row in stored] == [
            ("warning", "work", "x", {"logger": "lib"})
        ]
        assert stored[0].seq == live.seq


@pytest.mark.parametrize("isolation", ["thread", "process"])
async def test_levels_follow_the_loggers_and_the_capture_level(
    install: Install, lib_at_debug: None, isolation: str
) -> None:
    async with engine_with(install) as engine:  # [telemetry] capture_level = "info" by default
        run = await run_job(engine, step("levels", "logs_every_level", isolation=isolation))
        await finished(run)
        stored = await captured(engine, run)
    assert [(row.level, row.message, row.fields) for row in stored] == [
        ("info", "an info record", {"logger": "lib"}),
        ("warning", "a warning record", {"logger": "lib"}),
        ("error", "an error record", {"logger": "lib"}),
        ("error", "a critical record", {"logger": "lib", "levelname": "CRITICAL"}),
    ]


async def test_the_capture_level_and_the_switch_come_from_app_toml(tmp_path: Path, database_url: str) -> None:
    install = make_install(tmp_path, database_url, '[telemetry]\ncapture_level = "error"\n')
    async with engine_with(install) as engine:
        run = await run_job(engine, step("levels", "logs_every_level"))
        await finished(run)
        assert [row.message for row in await captured(engine, run)] == [
            "an error record",
            "a critical record",
        ]
    off = make_install(tmp_path, database_url, "[telemetry]\ncapture_logging = false\n")
    async with engine_with(off) as engine:
        run = await run_job(engine, step("levels", "logs_every_level"))
        await finished(run)
        assert await captured(engine, run) == []
        assert not any(isinstance(handler, CaptureHandler) for handler in logging.getLogger().handlers)


async def test_an_exception_keeps_its_traceback(install: Install) -> None:
    async with engine_with(install) as engine:
        run = await run_job(engine, step("fails", "logs_an_exception"))
        await finished(run)
        [row] = await captured(engine, run)
    assert (row.level, row.message) == ("error", "it failed")
    assert row.fields is not None
    assert "ValueError: the reason" in row.fields["traceback"]


async def test_a_run_keeps_at_most_capture_limit_records_and_says_how_many_it_dropped(
    tmp_path: Path, database_url: str
) -> None:
    install = make_install(tmp_path, database_url, "[telemetry]\ncapture_limit = 3\n")
    async with engine_with(install) as engine:
        run = await run_job(
            engine,
            step("first", "logs_lines", prefix="a", count=2),
            step("second", "logs_lines", prefix="b", count=4),
        )
        await finished(run)
        rows = [row for row in await engine.store.get_logs(run.run_id) if row.level == "warning"]
        # The budget is the run's: the second step keeps one record, drops three, and says so last.
        assert [(row.step_name, row.message) for row in rows] == [
            ("first", "a 0"),
            ("first", "a 1"),
            ("second", "b 0"),
            (
                "second",
                "3 log record(s) of this step were not kept: a run keeps at most 3 captured records "
                "([telemetry] capture_limit in app.toml)",
            ),
        ]
        assert rows[-1].fields == {"event": "log_records_dropped", "dropped": 3}
        again = await run_job(engine, step("only", "logs_lines", prefix="c", count=2))
        await finished(again)
        assert [row.message for row in await captured(engine, again)] == ["c 0", "c 1"]  # its own budget


async def test_captured_lines_are_scrubbed_of_secrets(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIB_TOKEN", "tok-5f3a9c")
    install = make_install(tmp_path, database_url)
    async with engine_with(install) as engine:
        run = await run_job(
            engine,
            step("env", "logs_text", text="${env.LIB_TOKEN}"),  # the step's own redaction
            step("url", "logs_text", text="https://bob:hunter2@db.example/x?key=abc"),  # the process log's
        )
        await finished(run)
        messages = [row.message for row in await captured(engine, run)]
    assert messages == ["calling ***", "calling https://***@db.example/x?***"]


async def test_records_outside_steps_and_after_a_step_ended_are_not_captured(install: Install) -> None:
    name = f"late-{uuid.uuid4().hex[:8]}"
    async with engine_with(install) as engine:
        run = await run_job(engine, step("leaves", "leaves_a_thread_logging", name=name))
        await finished(run)
        logging.getLogger("lib").warning("made outside any step")
        gate_of(name).set()
        assert await anyio.to_thread.run_sync(gate_of(f"{name}:logged").wait, 10)
        # Lines are written in the order they come: once a later run has ended, with its own lines
        # written, a line copied from that thread would have been written too.
        await finished(await run_job(engine, step("after", "warns", text="later")))
        lines = [row.message for row in await engine.store.get_logs(run.run_id)]
    assert "logged after the step ended" not in lines
    assert "made outside any step" not in lines


async def test_records_of_steps_and_of_the_engine_carry_the_run_fields(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(StepFields())
    logging.getLogger("lib").addHandler(handler)
    caplog.set_level(logging.INFO, logger="nomaflow.engine")
    try:
        async with engine_with(install) as engine:
            run = await run_job(engine, step("work", "warns", text="x"))
            await finished(run)
    finally:
        logging.getLogger("lib").removeHandler(handler)
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert {key: line[key] for key in ("level", "logger", "message", "run_id", "step")} == {
        "level": "WARNING",
        "logger": "lib",
        "message": "x",
        "run_id": run.run_id,
        "step": "work",
    }
    assert line["job"].startswith("job-")
    ends = [
        record for record in caplog.records if record.name == "nomaflow.engine" and "run of" in record.msg
    ]
    assert [(record.__dict__["run_id"], record.__dict__["job"]) for record in ends] == [
        (run.run_id, line["job"]),
        (run.run_id, line["job"]),
    ]
