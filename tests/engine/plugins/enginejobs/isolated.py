"""Callables for the process-isolation tests. They run in a child process (except where a test says
otherwise), so they report what the tests need through ctx.log, which reaches the run's events."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

from enginejobs.steps import gate


def spin(ctx: Any) -> None:
    """A CPU loop that never looks at ctx.cancelled: only terminating the process stops it."""
    ctx.log.info("spinning", pid=os.getpid())
    total = 0
    while True:
        total += 1


def stubborn(ctx: Any) -> None:
    """Ignores SIGTERM and leaves a grandchild behind: only SIGKILL to the process group stops both."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ctx.log.info("stubborn", pid=os.getpid(), grandchild=grandchild.pid)
    while True:
        pass


def report(n: int, label: str, ctx: Any) -> dict[str, Any]:
    ctx.log.info("reporting", n=n, label=label)
    print("a line on stdout")
    print("a line on stderr", file=sys.stderr)
    ctx.log.warning("done")
    return {
        "n": n * 2,
        "label": label,
        "run_id": ctx.run_id,
        "job": ctx.job,
        "step": ctx.step,
        "attempt": ctx.attempt,
        "dry_run": ctx.dry_run,
        "params": ctx.params,
        "previous": ctx.previous_output,
        "cancelled": ctx.cancelled,
        "pid": os.getpid(),
    }


async def report_async(n: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"n": n + 1, "pid": os.getpid()}


def explode(message: str) -> None:
    raise ValueError(message)


def refuse(message: str) -> None:
    from nomaflow.actors.errors import PermanentStepFailure

    raise PermanentStepFailure(message)


def unjsonable() -> object:
    return object()


def leave_a_grandchild(ctx: Any) -> dict[str, int]:
    """Returns at once, leaving a process behind in its group (which the engine must kill)."""
    grandchild = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {"grandchild": grandchild.pid}


def wait_for_cancel(name: str, ctx: Any) -> dict[str, bool]:
    """Runs in a worker thread (isolation = "thread"): the cooperative way to stop."""
    gate(f"{name}:entered").set()
    deadline = time.monotonic() + 30
    while not ctx.cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    if ctx.cancelled:
        gate(f"{name}:saw-cancel").set()
    return {"cancelled": ctx.cancelled}
