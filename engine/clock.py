"""Clocks: the system clock the engine runs on, and a manual one that tests move by hand; `within`
bounds a wait on either.

Nothing else in engine/ or actors/ reads the time: they are handed one of these.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from nomaflow.actors.ports import Clock


class SystemClock:
    # Sleep in slices so a wall-clock jump (NTP step, suspended VM) is noticed within a minute.
    _SLICE_SECONDS = 60.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: datetime) -> None:
        while (delay := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110 - waits on the wall clock
            await anyio.sleep(min(delay, self._SLICE_SECONDS))
        await anyio.lowlevel.checkpoint()


class ManualClock:
    """A clock that only moves when told to. `advance()` wakes every sleeper whose time has come;
    `wait_for_sleepers(n)` lets a test wait until the code under test is actually waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, anyio.Event]] = []
        self._sleepers_changed = anyio.Event()

    def now(self) -> datetime:
        return self._now

    @property
    def sleepers(self) -> int:
        return len(self._sleepers)

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + timedelta(seconds=max(0.0, seconds)))

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        woken = anyio.Event()
        entry = (when, woken)
        self._sleepers.append(entry)
        self._notify()
        try:
            await woken.wait()
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
                self._notify()

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))

    def set(self, when: datetime) -> None:
        self._now = when
        for deadline, woken in list(self._sleepers):
            if deadline <= when:
                self._sleepers.remove((deadline, woken))
                woken.set()
        self._notify()

    def next_deadline(self) -> datetime | None:
        return min((deadline for deadline, _ in self._sleepers), default=None)

    async def wait_for_sleepers(self, count: int = 1) -> None:
        while len(self._sleepers) < count:
            changed = self._sleepers_changed
            await changed.wait()

    def _notify(self) -> None:
        self._sleepers_changed.set()
        self._sleepers_changed = anyio.Event()


async def within(clock: Clock, seconds: float, work: Coroutine[Any, Any, None]) -> bool:
    """Await `work` for at most `seconds` on `clock`; False if it was cut short."""
    done = False
    async with anyio.create_task_group() as race:

        async def deadline() -> None:
            await clock.sleep(seconds)
            race.cancel_scope.cancel()

        race.start_soon(deadline)
        await work
        done = True
        race.cancel_scope.cancel()
    return done
