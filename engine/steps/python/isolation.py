"""Running a python step's callable in a child process (`isolation = "process"`), so that abort and
timeouts really stop it: the parent side. The child side is `nomaflow.engine.steps.python.isolation_child`.

The child is a fresh interpreter (never a fork of this threaded, event-looped process), started in its
own session, so its process group holds it and anything it starts. kwargs go in and the return value
comes back as JSON; `ctx.log` lines and printed output reach the run's log as they happen, and records
of the standard logging module are handed to this process's logging as they are made there (with the
child's pid), so they reach the host's handlers and, through the capture, the run's log. Cancellation
of `run_in_child` (abort, timeout, shutdown) sends SIGTERM to the group, SIGKILL after a grace period,
and reaps the child before re-raising; every way out kills what is left of the group, so no child
outlives its step. Waiting happens on the child's pipes and exit through anyio: the loop never blocks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import ByteReceiveStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext

CHILD = Path(__file__).with_name("isolation_child.py")

# SIGTERM lets the callable run its `finally` blocks; whatever is still alive this long after gets SIGKILL.
TERMINATE_GRACE_SECONDS = 1.0
# How long output may still arrive after the child exited (a process that escaped its group may hold
# the pipes open; it is not waited for longer than this).
DRAIN_SECONDS = 5.0
# The longest JSON line (a log line or the return value) the child may send.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_LEVELS = ("debug", "info", "warning", "error")
_PIPE_ENDED = (anyio.IncompleteRead, anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)


def _signal_group(process: Process, signum: signal.Signals) -> None:
    """Signal the child's process group (its pid: it leads its own session). Once the group is empty
    there is nothing to signal; its id cannot have been reused while any member was alive."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


async def _lines(stream: ByteReceiveStream) -> Any:
    buffered = BufferedByteReceiveStream(stream)
    while True:
        try:
            line = await buffered.receive_until(b"\n", MAX_MESSAGE_BYTES)
        except _PIPE_ENDED:
            return  # the child exited (or the pipe was closed under us)
        yield line


async def _copy_output(stream: ByteReceiveStream, ctx: StepContext) -> None:
    """Whatever the callable prints becomes log lines of the run."""
    async for line in _lines(stream):
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            ctx.log.info(text, stream="output")


def _log_levels() -> dict[str, int]:
    """The levels set on this process's loggers ("" for the root), for the child to make the records
    this process would."""
    levels = {"": logging.getLogger().getEffectiveLevel()}
    for name, item in logging.root.manager.loggerDict.items():
        if isinstance(item, logging.Logger) and item.level != logging.NOTSET:
            levels[name] = item.level
    return levels


def _replay(message: dict[str, Any], pid: int) -> None:
    """A record the child made, handed to this process's logger of the same name. Its level was
    checked in the child, against the same levels; the handlers check theirs."""
    logger = logging.getLogger(str(message.get("name") or "root"))
    if logger.disabled:
        return
    created = float(message.get("created") or 0.0)
    record = logging.makeLogRecord(
        {
            "name": logger.name,
            "levelno": int(message.get("levelno") or logging.INFO),
            "levelname": str(message.get("levelname") or "INFO"),
            "msg": str(message.get("message", "")),
            "exc_text": message.get("exc_text"),
            "stack_info": message.get("stack_info"),
            "created": created,
            "msecs": (created - int(created)) * 1000,
            "process": pid,
            "threadName": message.get("thread"),
        }
    )
    logger.handle(record)


async def _read_messages(
    stream: ByteReceiveStream, ctx: StepContext, answer: dict[str, Any], pid: int
) -> None:
    async for line in _lines(stream):
        message = msgspec.json.decode(line)
        kind = message.get("kind")
        if kind == "log":
            level = message.get("level") if message.get("level") in _LEVELS else "info"
            getattr(ctx.log, level)(message.get("message", ""), **(message.get("fields") or {}))
        elif kind == "record":
            _replay(message, pid)
        elif kind in ("result", "error"):
            answer.update(message)


async def _stop(process: Process) -> None:
    """SIGTERM the group, SIGKILL it after the grace period, and reap the child."""
    _signal_group(process, signal.SIGTERM)
    with anyio.move_on_after(TERMINATE_GRACE_SECONDS):
        await process.wait()
    _signal_group(process, signal.SIGKILL)
    await process.wait()


async def run_in_child(ctx: StepContext, target: str, kwargs: dict[str, Any]) -> Any:
    """Call `target(**kwargs)` ("package.module:function") in a child process and return its result."""
    request = msgspec.json.encode(
        {
            "callable": target,
            "kwargs": kwargs,
            "sys_path": sys.path,
            "run_id": ctx.run_id,
            "job": ctx.job,
            "step": ctx.step,
            "attempt": ctx.attempt,
            "params": ctx.params,
            "dry_run": ctx.dry_run,
            "outputs": ctx.outputs,
            "previous_output": ctx.previous_output,
            "log_levels": _log_levels(),
        }
    )
    # -P: the child's folder (engine/steps, which holds an http.py) must not shadow the standard library.
    with anyio.CancelScope(shield=True):  # a child started must be held, to be stopped and reaped
        process = await anyio.open_process([sys.executable, "-P", str(CHILD)], start_new_session=True)
    answer: dict[str, Any] = {}
    try:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout, process.stderr
        drained = anyio.Event()

        async def read_everything() -> None:
            async with anyio.create_task_group() as readers:
                readers.start_soon(_copy_output, stderr, ctx)
                readers.start_soon(_read_messages, stdout, ctx, answer, process.pid)
            drained.set()

        async with anyio.create_task_group() as group:
            group.start_soon(read_everything)
            # stdin stays open: the child takes EOF to mean this process died.
            await process.stdin.send(request + b"\n")
            code = await process.wait()
            # What the callable started and left running dies with it; their ends of the pipes close.
            _signal_group(process, signal.SIGKILL)
            with anyio.move_on_after(DRAIN_SECONDS):
                await drained.wait()
            group.cancel_scope.cancel()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _stop(process)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            _signal_group(process, signal.SIGKILL)
            await process.aclose()
    if answer.get("kind") == "result":
        return answer.get("value")
    if answer.get("kind") == "error":
        kind, text = answer.get("type"), answer.get("message")
        error = f"{kind}: {text}" if text else str(kind)
        if answer.get("traceback"):
            ctx.log.error(error, traceback=answer["traceback"])
        raise (PermanentStepFailure if answer.get("permanent") else StepFailure)(error)
    raise StepFailure(f"the step's child process {_describe_exit(code)} before returning a result")
