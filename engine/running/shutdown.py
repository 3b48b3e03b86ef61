"""Stopping within bounds: runs in flight end within the grace period, and each stage that may wait on
the outside (the job store, a connection pool, a client) is given up on after a margin, so a store that
is down or a server that hangs cannot keep the process from ending. What cannot be recorded by then is
left to crash recovery (engine/running/recovery.py), here or in another engine.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from nomaflow.actors.ports import Clock
from nomaflow.actors.supervisor import Supervisor
from nomaflow.engine.clock import within
from nomaflow.engine.running.log_writer import LogWriter

# The engine's logger: its stop is logged where it always was.
log = logging.getLogger("nomaflow.engine")

# What a stop may take beyond the grace period, at each stage where the store may keep it waiting.
STOP_MARGIN_SECONDS = 3.0


class ClosingStore(Protocol):
    """The job store as a stop sees it: closed in order, or abandoned when it will not finish."""

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...

    def abandon(self) -> None: ...


async def end_runs(
    supervisor: Supervisor, logs: LogWriter, store: ClosingStore, clock: Clock, grace: float
) -> list[str]:
    """Let the runs in flight end within `grace`, abort the rest and write their log lines; returns the
    ids of the runs aborted. If the store keeps their ends from being recorded for a margin beyond
    `grace`, it is given up on, and what is left gets one more margin."""
    aborted: list[str] = []
    if not await within(clock, grace + STOP_MARGIN_SECONDS, _drain(supervisor, logs, grace, aborted)):
        log.warning(
            "shutdown: the runs' ends could not be recorded within %g s (the job store is "
            "not taking writes): giving up on it; crash recovery ends what is left running",
            grace + STOP_MARGIN_SECONDS,
        )
        store.abandon()
        await within(clock, STOP_MARGIN_SECONDS, _drain(supervisor, logs, 0, aborted))
    return aborted


async def close_store(store: ClosingStore, clock: Clock) -> None:
    """Close the store's writer, abandoning it if it has not finished within a margin."""
    store.close()
    if not await within(clock, STOP_MARGIN_SECONDS, store.wait_closed()):
        store.abandon()


async def close_within(clock: Clock, what: str, close: Callable[[], Awaitable[Any]]) -> None:
    """A part of the stop that talks to the outside (a pool, a client): given up on after a margin,
    so a server that hangs cannot keep the process from ending."""

    async def closing() -> None:
        await close()

    try:
        if not await within(clock, STOP_MARGIN_SECONDS, closing()):
            log.warning("shutdown: %s took over %g s: given up on", what, STOP_MARGIN_SECONDS)
    except Exception:
        log.exception("shutdown: %s failed", what)


async def _drain(supervisor: Supervisor, logs: LogWriter, grace: float, aborted: list[str]) -> None:
    """The orderly part of a stop: runs end (aborted after `grace`), their log lines are written."""
    ids = await supervisor.shutdown(grace)  # a second call waits for the first one's drain
    if ids:
        log.warning("shutdown aborted %d run(s): %s", len(ids), ", ".join(ids))
        aborted.extend(ids)
    await logs.close()
    await logs.finished.wait()
