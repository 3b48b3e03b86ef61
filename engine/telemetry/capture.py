"""Records of the standard `logging` module made while a step runs, by the step's own code or by any
library it calls, copied into that run's log (ly2_job_logs and the live events) as `ctx.log` lines are.

How a record finds its run: the engine sets `current_step` (engine.telemetry.fields) around each attempt
(engine.telemetry.observed). Tasks the step starts and the worker threads of `anyio.to_thread` copy the
context, so they see it too. One handler on the root logger reads it and returns at once when no step
is current, which is so for every record made outside steps.

Bounded: a run keeps at most `[telemetry] capture_limit` captured records; later ones are counted, and
each step that lost some ends with one warning line saying how many. Scrubbed: a record's text goes
through the process log's secret scrubbing (engine.telemetry.secret_filter), which also applies the
redaction of the step running (engine.steps.redaction's current scrubber).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.load import Install
from nomaflow.engine.config.model import TelemetrySettings
from nomaflow.engine.steps.redaction import Scrubber
from nomaflow.engine.telemetry.fields import current_step
from nomaflow.engine.telemetry.secret_filter import known_secrets, scrub_text

# Runs whose budget is remembered at once; a run's budget is dropped when it ends (RunFinished), so
# this only bounds what runs that never report an end could leave behind.
_RUNS_KEPT = 100_000
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_STANDARD_LEVELS = frozenset(_LEVELS.values())


def stored_level(levelno: int) -> str:
    """The run log's level for a record's: the run log knows debug, info, warning and error (CRITICAL
    and custom levels above ERROR are stored as error, their name kept in the line's fields)."""
    if levelno < logging.INFO:
        return "debug"
    if levelno < logging.WARNING:
        return "info"
    if levelno < logging.ERROR:
        return "warning"
    return "error"


class RunBudget:
    """How many captured records one run may keep; shared by its steps and their threads. Made on the
    run's first captured record: most runs have none, and then cost nothing here."""

    __slots__ = ("_limit", "_taken")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._taken = itertools.count()  # next() on it is atomic: threads need no lock

    def take(self) -> bool:
        return next(self._taken) < self._limit


class StepCapture:
    """One step attempt's capture: where its records go, and how many it could not keep. Made for
    every attempt, so it holds little: the attempt's context, and the rest found when a record comes."""

    __slots__ = ("_budget", "_capture", "_closed", "ctx", "dropped")

    def __init__(self, capture: LogCapture, ctx: StepContext) -> None:
        self.ctx = ctx
        self.dropped = 0
        self._capture = capture
        self._budget: RunBudget | None = None
        self._closed = False

    @property
    def level(self) -> int:
        return self._capture.level

    def take(self, record: logging.LogRecord) -> None:
        # A thread the step left behind (abort, timeout) may still log: its step is over.
        if self._closed:
            return
        capture = self._capture
        if self._budget is None:
            self._budget = capture.budget(self.ctx.run_id)
        if not self._budget.take():
            with capture.lock:
                self.dropped += 1
            return
        scrub = capture.scrubber()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what was written
            message = str(record.msg)
        fields: dict[str, Any] = {"logger": record.name}
        if record.levelno not in _STANDARD_LEVELS:
            fields["levelname"] = record.levelname
        if record.exc_info and record.exc_info[0] is not None:
            fields["traceback"] = scrub_text(logging.Formatter().formatException(record.exc_info), scrub)
        elif record.exc_text:
            fields["traceback"] = scrub_text(record.exc_text, scrub)
        if record.stack_info:
            fields["stack"] = scrub_text(record.stack_info, scrub)
        getattr(self.ctx.log, stored_level(record.levelno))(scrub_text(message, scrub), **fields)

    def close(self) -> None:
        """The attempt is over: later records are ignored; say how many were not kept, if any."""
        self._closed = True
        if self.dropped:
            self.ctx.log.warning(
                f"{self.dropped} log record(s) of this step were not kept: a run keeps at most "
                f"{self._capture.limit} captured records ([telemetry] capture_limit in app.toml)",
                event="log_records_dropped",
                dropped=self.dropped,
            )


# Set while a record is being copied, so a record made on the way (the log writer's own warning when
# its backlog is full) is not copied in turn.
_copying: ContextVar[bool] = ContextVar("nomaflow_copying_record", default=False)


class LogCapture:
    """One engine's capture: its settings, the budgets of its runs, the secrets its install knows."""

    def __init__(self, settings: TelemetrySettings, install: Install) -> None:
        self.level = _LEVELS[settings.capture_level]
        self.limit = settings.capture_limit
        self._install = install
        self._budgets: dict[str, RunBudget] = {}
        self._known: Scrubber | None = None
        self.lock = threading.Lock()  # for the rare paths: a run's first record, a dropped one

    def begin(self, ctx: StepContext) -> StepCapture:
        """A step attempt starts (on the event loop)."""
        return StepCapture(self, ctx)

    def budget(self, run_id: str) -> RunBudget:
        """The run's budget, made on its first captured record (from any thread)."""
        with self.lock:
            budget = self._budgets.get(run_id)
            if budget is None:
                if len(self._budgets) >= _RUNS_KEPT:
                    del self._budgets[next(iter(self._budgets))]
                budget = self._budgets[run_id] = RunBudget(self.limit)
            return budget

    def run_ended(self, run_id: str) -> None:
        if run_id in self._budgets:  # most runs captured nothing, and have none
            with self.lock:
                self._budgets.pop(run_id, None)

    def scrubber(self) -> Scrubber:
        """The install's secrets, read on the first record captured: most steps never log, and reading
        them walks every job's settings."""
        known = self._known
        if known is None:
            with self.lock:
                if self._known is None:
                    self._known = known_secrets(self._install)
                known = self._known
        return known


class CaptureHandler(logging.Handler):
    """On the root logger: hands each record made while a step runs to that step's capture.

    A process that configured no logging prints warnings through Python's last-resort handler, which
    logging uses only when a record finds no handler at all. This one would count as found, so while
    it is the only handler a record meets, it hands the record to the last resort itself: adding it
    changes nothing in what the process prints."""

    def __init__(self) -> None:
        super().__init__()
        self.users = 0  # engines started in this process that capture (see `attach_capture`)

    def handle(self, record: logging.LogRecord) -> bool:
        # The cost of a record made outside steps, in a process with logging configured: one ContextVar
        # read and one length. No lock, no filters.
        step = current_step.get()
        if step is not None and record.levelno >= step.level and not _copying.get():
            token = _copying.set(True)
            try:
                step.take(record)
            except Exception:
                self.handleError(record)
            finally:
                _copying.reset(token)
        if len(logging.root.handlers) == 1 and _only_handler(record):
            last = logging.lastResort
            if last is not None and record.levelno >= last.level:
                last.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


def _only_handler(record: logging.LogRecord) -> bool:
    """Whether the record met no handler before the root's (which holds only the capture handler)."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None and logger is not logging.root:
        if logger.handlers:
            return False
        logger = logger.parent
    return True


_ATTACHING = threading.Lock()


def attach_capture() -> Callable[[], None]:
    """Put the capture handler on the root logger (once per process, however many engines capture);
    return what takes it off again when the last of them stops."""
    root = logging.getLogger()
    with _ATTACHING:
        handler = next((item for item in root.handlers if isinstance(item, CaptureHandler)), None)
        if handler is None:
            handler = CaptureHandler()
            root.addHandler(handler)
        handler.users += 1

    def detach() -> None:
        with _ATTACHING:
            handler.users -= 1
            if handler.users <= 0:
                root.removeHandler(handler)

    return detach
