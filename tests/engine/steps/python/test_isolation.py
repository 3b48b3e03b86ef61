"""The python step with `isolation = "process"`: abort and timeouts terminate the child (and its
group) at once, leaving no process behind; output, logs and exceptions cross the process boundary.
And with `isolation = "thread"`, a sync step sees `ctx.cancelled` once the run is aborted.

Tests wait on events (log lines of the run, gates) and on the child's exit, never on sleeps. The
store is only the backdrop here, so these run on SQLite alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import psutil
import pytest

from nomaflow.actors.events import LogLine
from nomaflow.engine import Engine, ManualClock, RunHandle
from nomaflow.engine.config import Install
from nomaflow.engine.steps.python.isolation import CHILD, TERMINATE_GRACE_SECONDS
from tests.engine.conftest import quiet_install, reached

pytestmark = pytest.mark.anyio

ABORT_BOUND_SECONDS = 2.0  # issue 3: an abort ends a spinning process-isolated step within 2 s


@pytest.fixture
def database_kind() -> str:
    return "sqlite"


def isolated(step: str, target: str, /, **kwargs: Any) -> dict[str, Any]:
    return {
        "name": step,
        "type": "python",
        "callable": f"enginejobs.isolated:{target}",
        "kwargs": kwargs,
        "isolation": "process",
    }


def gone(pid: int) -> bool:
    """The process no longer exists. A grandchild handed to init may linger as a zombie until init
    reaps it; it is dead all the same (our own child must be reaped by us: see `no_isolated_children`)."""
    try:
        process = psutil.Process(pid)
        return process.status() == psutil.STATUS_ZOMBIE and process.ppid() != os.getpid()
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, within: float = 10) -> bool:
    """Wait until process `pid` has terminated (a pidfd becomes readable then; no polling)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([handle], [], [], within)
        return bool(readable) and gone(pid)
    finally:
        os.close(handle)


def isolated_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if str(CHILD) in child.cmdline() or child.status() == psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


async def log_line(run: RunHandle, message: str) -> LogLine:
    """The run's first log line saying `message` (its events arrive as they happen)."""
    # RunHandle.events() is an async generator, annotated as the AsyncIterator it is used as.
    async with contextlib.aclosing(run.events()) as events:  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, LogLine) and event.message == message:
                return event
    raise AssertionError(f"the run ended without logging {message!r}")


@contextlib.asynccontextmanager
async def engine_with(
    install: Install, *jobs: dict[str, Any], clock: ManualClock | None = None
) -> AsyncIterator[Engine]:
    async with Engine(quiet_install(install), clock=clock, scheduler=False) as engine:
        for job in jobs:
            engine.define_job(**job)
        yield engine


async def test_abort_kills_a_spinning_child_within_two_seconds_and_reaps_it(install: Install) -> None:
    async with engine_with(install, {"name": "spin", "steps": [isolated("spin", "spin")]}) as engine:
        run = await engine.trigger("spin")
        with anyio.fail_after(30):
            started = await log_line(run, "spinning")
        assert started.fields is not None
        pid = started.fields["pid"]
        assert psutil.Process(pid).is_running() and pid != os.getpid()
        began = anyio.current_time()
        await run.abort()
        outcome = await run.wait()
        elapsed = anyio.current_time() - began
        assert outcome.status == "aborted"
        assert outcome.steps[0].status == "aborted"
        assert elapsed < ABORT_BOUND_SECONDS, f"the abort took {elapsed:.2f} s"
        with pytest.raises(psutil.NoSuchProcess):  # reaped: not even a zombie
            psutil.Process(pid)
        assert isolated_children() == []


async def test_sigterm_ignored_means_sigkill_to_the_whole_group(install: Install) -> None:
    async with engine_with(install, {"name": "stubborn", "steps": [isolated("s", "stubborn")]}) as engine:
        run = await engine.trigger("stubborn")
        with anyio.fail_after(30):
            started = await log_line(run, "stubborn")
        assert started.fields is not None
        pid, grandchild = started.fields["pid"], started.fields["grandchild"]
        assert not gone(grandchild)
        began = anyio.current_time()
        await run.abort()
        assert (await run.wait()).status == "aborted"
        assert anyio.current_time() - began < TERMINATE_GRACE_SECONDS + ABORT_BOUND_SECONDS
        with pytest.raises(psutil.NoSuchProcess):
            psutil.Process(pid)
        # SIGKILL was sent to the group; the grandchild (now init's) dies as soon as it is scheduled.
        assert await anyio.to_thread.run_sync(wait_gone, grandchild)
        assert isolated_children() == []


async def test_a_timeout_terminates_the_child_too(install: Install) -> None:
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    job = {"name": "slow", "steps": [{**isolated("spin", "spin"), "timeout_seconds": 30}]}
    async with engine_with(install, job, clock=clock) as engine:
        run = await engine.trigger("slow")
        with anyio.fail_after(30):
            started = await log_line(run, "spinning")
        assert started.fields is not None
        began = anyio.current_time()
        clock.advance(30)  # the attempt's watchdog sleeps on the engine's clock
        outcome = await run.wait()
        assert anyio.current_time() - began < ABORT_BOUND_SECONDS
        assert outcome.status == "failed"
        assert outcome.steps[0].error == "timed out after 30 s"
        with pytest.raises(psutil.NoSuchProcess):
            psutil.Process(started.fields["pid"])
        assert isolated_children() == []


async def test_kwargs_context_output_and_logs_cross_the_process_boundary(install: Install) -> None:
    job = {
        "name": "crossing",
        "params": {"label": "x"},
        "steps": [
            {
                "name": "first",
                "type": "python",
                "callable": "enginejobs.steps:add",
                "kwargs": {"a": 1, "b": 2},
            },
            isolated("second", "report", n="${previous.output.sum}", label="${params.label}"),
            isolated("third", "report_async", n="${steps.second.output.n}"),
        ],
    }
    async with engine_with(install, job) as engine:
        run = await engine.trigger("crossing", params={"label": "été ✓"}, dry_run=True)
        outcome = await run.wait()
        assert outcome.status == "succeeded", outcome
        second = outcome.step("second").output
        assert second["pid"] != os.getpid()
        assert {key: value for key, value in second.items() if key != "pid"} == {
            "n": 6,
            "label": "été ✓",
            "run_id": run.run_id,
            "job": "crossing",
            "step": "second",
            "attempt": 1,
            "dry_run": True,
            "params": {"label": "été ✓"},
            "previous": {"sum": 3},
            "cancelled": False,
        }
        assert outcome.step("third").output["n"] == 7  # an async callable, run in its own child
        logs = [
            (log.level, log.message, log.fields)
            for log in await engine.store.get_logs(run.run_id)
            if log.step_name == "second" and not (log.fields or {}).get("event")
        ]
        assert ("info", "reporting", {"n": 3, "label": "été ✓"}) in logs
        assert ("warning", "done", None) in logs
        assert ("info", "a line on stdout", {"stream": "output"}) in logs
        assert ("info", "a line on stderr", {"stream": "output"}) in logs
        assert logs.index(("info", "reporting", {"n": 3, "label": "été ✓"})) < logs.index(
            ("warning", "done", None)
        )


async def test_exceptions_come_back_with_type_message_and_traceback(install: Install) -> None:
    retry = {"max_attempts": 2, "initial_delay_seconds": 0}
    jobs = [
        {"name": "boom", "steps": [{**isolated("s", "explode", message="boom"), "retry": retry}]},
        {"name": "refused", "steps": [{**isolated("s", "refuse", message="no way"), "retry": retry}]},
        {"name": "odd", "steps": [isolated("s", "unjsonable")]},
    ]
    async with engine_with(install, *jobs) as engine:
        boom = await (await engine.trigger("boom")).wait()
        assert boom.status == "failed"
        assert boom.steps[0].error == "ValueError: boom"
        assert boom.steps[0].attempts == 2  # an ordinary exception is retryable
        logs = await engine.store.get_logs(boom.run_id)
        tracebacks = [log.fields["traceback"] for log in logs if log.fields and "traceback" in log.fields]
        assert len(tracebacks) == 2
        assert "isolated.py" in tracebacks[0] and "raise ValueError(message)" in tracebacks[0]
        assert "ValueError: boom" in tracebacks[0]

        refused = await (await engine.trigger("refused")).wait()
        assert refused.steps[0].error == "nomaflow.actors.errors.PermanentStepFailure: no way"
        assert refused.steps[0].attempts == 1  # permanent: not retried

        odd = await (await engine.trigger("odd")).wait()
        assert odd.status == "failed"
        assert "not JSON-able" in (odd.steps[0].error or "")
    assert isolated_children() == []


async def test_what_a_finished_child_leaves_running_is_killed(install: Install) -> None:
    async with engine_with(
        install, {"name": "leaver", "steps": [isolated("s", "leave_a_grandchild")]}
    ) as engine:
        outcome = await (await engine.trigger("leaver")).wait()
        assert outcome.status == "succeeded"
        assert await anyio.to_thread.run_sync(wait_gone, outcome.steps[0].output["grandchild"])
    assert isolated_children() == []


async def test_a_thread_isolated_sync_step_sees_cancelled_after_abort(install: Install) -> None:
    name = f"coop-{uuid.uuid4().hex[:8]}"
    step = {
        "name": "s",
        "type": "python",
        "callable": "enginejobs.isolated:wait_for_cancel",
        "kwargs": {"name": name},
    }
    async with engine_with(install, {"name": "coop", "steps": [step]}) as engine:
        run = await engine.trigger("coop")
        await reached(f"{name}:entered")
        await run.abort()
        assert (await run.wait()).status == "aborted"
        await reached(f"{name}:saw-cancel")


def test_the_child_kills_its_group_when_the_parent_goes_away() -> None:
    """If the engine process dies (kill -9), the child's stdin reaches EOF: it must not run on."""
    request = {
        "callable": "enginejobs.isolated:spin",
        "kwargs": {},
        "sys_path": sys.path,
        "run_id": "r",
        "job": "j",
        "step": "s",
        "attempt": 1,
        "params": {},
        "dry_run": False,
        "outputs": {},
        "previous_output": None,
    }
    child = subprocess.Popen(
        [sys.executable, "-P", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(request).encode() + b"\n")
        child.stdin.flush()
        assert json.loads(child.stdout.readline())["message"] == "spinning"
        child.stdin.close()  # what the parent's death looks like from the child
        assert child.wait(timeout=10) == -9
    finally:
        if child.poll() is None:
            os.killpg(child.pid, 9)
            child.wait()
