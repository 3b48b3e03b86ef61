"""The child side of a python step run with `isolation = "process"` (the parent side is
`nomaflow.engine.steps.python.isolation`). Started as `python -P <this file>`, not imported as part of
the engine: it uses the standard library only, so a child starts in a fraction of a second.

Protocol: the parent writes one JSON request line on stdin and keeps stdin open; the child answers
with JSON lines on its original stdout — log lines, then one result or error — while anything the
callable prints (fd 1 and 2 alike) goes to stderr, which the parent copies into the run's log. Records of
the standard logging module, from any thread of the child, go to the parent as JSON lines too; the
request carries the parent's logger levels, so the child makes the records the parent would.
SIGTERM sets `ctx.cancelled` and raises `Terminated` in the main thread so `finally` blocks run; the
parent follows with SIGKILL to the whole process group after a grace period. If stdin reaches EOF the
parent is gone: the child kills its own process group rather than outlive it.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import threading
import traceback
from typing import Any, TextIO

_CONTEXT_NAMES = ("ctx", "context")
_LEVELS = ("debug", "info", "warning", "error")


class Terminated(BaseException):
    """Raised in the callable when the parent asks the child to stop (abort or timeout)."""


class _Channel:
    """JSON lines to the parent; callable from any thread."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, default=_jsonable, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


class ChildLog:
    """`ctx.log.info(...)` and friends, sent to the parent, which writes them to the run's log."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    def _emit(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self._channel.send({"kind": "log", "level": level, "message": str(message), "fields": fields or None})

    def debug(self, message: str, **fields: Any) -> None:
        self._emit("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("info", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("warning", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", message, fields)


class _ForwardRecords(logging.Handler):
    """On the child's root logger: each record to the parent, which hands it to its own logging (and so
    to the run's log, through the capture of engine.telemetry.capture)."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: keep what was written
                message = str(record.msg)
            exc_text = record.exc_text
            if record.exc_info and record.exc_info[0] is not None:
                exc_text = logging.Formatter().formatException(record.exc_info)
            self._channel.send(
                {
                    "kind": "record",
                    "name": record.name,
                    "levelno": record.levelno,
                    "levelname": record.levelname,
                    "message": message,
                    "exc_text": exc_text,
                    "stack_info": record.stack_info,
                    "created": record.created,
                    "thread": record.threadName,
                }
            )
        except Exception:
            self.handleError(record)


def _forward_logging(channel: _Channel, levels: dict[str, int]) -> None:
    """Forward every record to the parent, at the levels its loggers have there ("" is the root)."""
    root = logging.getLogger()
    root.addHandler(_ForwardRecords(channel))
    root.setLevel(levels.get("", logging.WARNING))
    for name, level in levels.items():
        if name:
            logging.getLogger(name).setLevel(level)


class ChildContext:
    """What a process-isolated callable may know and do: a subset of the step context."""

    def __init__(self, request: dict[str, Any], log: ChildLog, cancel_flag: threading.Event) -> None:
        self.run_id: str = request["run_id"]
        self.job: str = request["job"]
        self.step: str = request["step"]
        self.attempt: int = request["attempt"]
        self.params: dict[str, Any] = request["params"]
        self.dry_run: bool = request["dry_run"]
        self.outputs: dict[str, Any] = request["outputs"]
        self.previous_output: Any = request["previous_output"]
        self.log = log
        self._cancel_flag = cancel_flag

    @property
    def cancelled(self) -> bool:
        """True once the run was aborted or the attempt timed out (the child is being stopped)."""
        return self._cancel_flag.is_set()


def _resolve(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _context_parameter(function: Any) -> str | None:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None
    for name, parameter in parameters.items():
        annotation = parameter.annotation
        named = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if name in _CONTEXT_NAMES or named == "StepContext":
            return name
    return None


def _watch_parent(stdin: TextIO) -> None:
    # The parent never writes after the request and closes stdin only once the child has exited, so
    # EOF here means the parent died: take the whole process group down with us.
    while stdin.readline():
        pass
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _call(request: dict[str, Any], channel: _Channel, cancel_flag: threading.Event) -> Any:
    function = _resolve(request["callable"])
    kwargs = dict(request["kwargs"])
    context = _context_parameter(function)
    if context is not None:
        kwargs[context] = ChildContext(request, ChildLog(channel), cancel_flag)
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(type(function), "__call__", None)  # noqa: B004 - an object with an async __call__
    ):
        return asyncio.run(function(**kwargs))
    return function(**kwargs)


def main() -> None:
    # The protocol keeps the real stdout; fd 1 becomes a copy of stderr, so prints cannot corrupt it.
    channel = _Channel(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    cancel_flag = threading.Event()

    def on_sigterm(signum: int, frame: Any) -> None:
        cancel_flag.set()
        raise Terminated("the step was aborted or timed out")

    signal.signal(signal.SIGTERM, on_sigterm)
    request = json.loads(sys.stdin.readline())
    sys.path[:] = request["sys_path"]
    _forward_logging(channel, request.get("log_levels") or {})
    threading.Thread(target=_watch_parent, args=(sys.stdin,), daemon=True, name="parent-watch").start()
    try:
        value = _call(request, channel, cancel_flag)
        try:
            channel.send({"kind": "result", "value": value})
        except (TypeError, ValueError) as exc:
            channel.send(
                {
                    "kind": "error",
                    "type": "NotJsonable",
                    "permanent": True,
                    "message": f"the step returned a value that is not JSON-able: {exc}",
                    "traceback": "",
                }
            )
    except Terminated:
        sys.exit(143)
    except BaseException as exc:
        kind = type(exc)
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        channel.send(
            {
                "kind": "error",
                "type": name,
                "permanent": getattr(exc, "retryable", True) is False,
                "message": str(exc),
                "traceback": traceback.format_exc(limit=30),
            }
        )


if __name__ == "__main__":
    main()
