"""The log writer: step log lines are queued from any thread and committed in batches.

When idle, a line is written at once (low latency for live tails); under load, whatever queued up while
the previous batch was being written goes in the next one (one transaction for many lines). Lines are
published on the bus only after their batch is committed.

The backlog is bounded: while the store cannot take writes (or cannot keep up), at most `limit` lines
wait, besides the batch being written. Past that, new lines are dropped and counted per run; once the
backlog drains, each run that lost lines gets one warning line in its log saying how many, numbered
with the first lost line's sequence number (so nothing else takes it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import anyio
from anyio.abc import TaskStatus

from nomaflow.actors.events import LogLine
from nomaflow.actors.ports import EventSink
from nomaflow.engine.telemetry.fields import run_fields

log = logging.getLogger("nomaflow.logs")

# Lines that may wait to be written, besides the batch being written: about 30 MB of short lines.
LOG_BACKLOG_LIMIT = 100_000


class LogStore(Protocol):
    async def append_logs(self, lines: Sequence[LogLine]) -> None: ...


class LogWriter:
    def __init__(self, store: LogStore, events: EventSink, *, limit: int = LOG_BACKLOG_LIMIT) -> None:
        self._store = store
        self._events = events
        self._limit = limit
        self._lock = threading.Lock()
        self._pending: list[LogLine] = []
        self._lost: dict[str, tuple[int, LogLine]] = {}  # run id -> lines dropped, the first of them
        self.dropped = 0  # lines dropped since the writer started (a metric)
        self._emitted = 0
        self._written = 0
        self._wake = anyio.Event()
        self._waiters: list[tuple[int, anyio.Event]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._closing = False
        self.finished = anyio.Event()  # set once `run` has returned

    def emit(self, line: LogLine) -> None:
        with self._lock:
            if len(self._pending) >= self._limit:
                self._drop(line)
                return
            self._pending.append(line)
            self._emitted += 1
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            # anyio events are not thread-safe: a worker thread asks the loop to set it.
            self._loop.call_soon_threadsafe(self._wake.set)

    async def flush(self) -> None:
        with self._lock:
            target = self._emitted
        if self._written >= target:
            return
        done = anyio.Event()
        self._waiters.append((target, done))
        self._wake.set()
        await done.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        task_status.started()
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                await self._write_pending()
                if self._closing and not self._pending:
                    return
        finally:
            self.finished.set()

    async def close(self) -> None:
        """Write what is queued, then stop `run`."""
        self._closing = True
        self._wake.set()

    def _drop(self, line: LogLine) -> None:
        """The backlog is full: count `line` as lost (with the lock held). Not counted as emitted, so
        `flush` does not wait for it."""
        count, first = self._lost.get(line.run_id, (0, line))
        self._lost[line.run_id] = (count + 1, first)
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            log.warning(
                "the log backlog is full (%d lines waiting for the job store): %d line(s) dropped so far",
                self._limit,
                self.dropped,
            )

    def _notices(self) -> list[LogLine]:
        """One line per run that lost some, saying how many (with the lock held); the counts restart."""
        lost, self._lost = self._lost, {}
        self._emitted += len(lost)
        return [
            LogLine(
                run_id=first.run_id,
                job=first.job,
                seq=first.seq,
                at=first.at,
                step=first.step,
                level="warning",
                message=(
                    f"{count} log line(s) of this run were dropped: {self._limit} lines were already "
                    "waiting for the job store"
                ),
                fields={"event": "log_lines_dropped", "dropped": count},
            )
            for count, first in lost.values()
        ]

    async def _write_pending(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if self._lost:
                    batch.extend(self._notices())
            if not batch:
                return
            try:
                with anyio.CancelScope(shield=True):
                    await self._store.append_logs(batch)
            except Exception:
                # The run must not fail because its log could not be written; say so where ops look.
                first = batch[0]
                log.exception(
                    "could not write %d log lines of run %s",
                    len(batch),
                    first.run_id,
                    extra=run_fields(first.run_id, first.job),
                )
            else:
                for line in batch:
                    self._events.publish(line)
            self._written += len(batch)
            ready = [w for w in self._waiters if w[0] <= self._written]
            self._waiters = [w for w in self._waiters if w[0] > self._written]
            for _, done in ready:
                done.set()
