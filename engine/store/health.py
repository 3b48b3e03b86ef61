"""Whether the job store takes writes now, as the parts of the engine that write to it find.

Each part (the run writer, the leadership, the heartbeat, ...) says when a write of its failed for a
reason that waiting may cure (`failing`) and when one went through again (`recovered`). The store is
*degraded* while any part is failing: /health and /metrics say so, with the first reason, and the
engine stops firing cron and admitting runs until it is ok again, which it becomes by itself.
"""

from __future__ import annotations

import logging
from datetime import datetime

import anyio

from nomaflow.actors.ports import Clock

log = logging.getLogger("nomaflow.store")


class StoreHealth:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._failing: dict[str, str] = {}  # part -> its last reason, in the order they began failing
        self._since: datetime | None = None  # when the store last became degraded
        self._ok = anyio.Event()
        self._ok.set()
        self._degraded = anyio.Event()
        self.outages = 0  # how many times the store became degraded since the engine started

    @property
    def ok(self) -> bool:
        return not self._failing

    @property
    def reason(self) -> str | None:
        """Why the store is degraded (the first failing part's reason, naming it); None when ok."""
        for part, reason in self._failing.items():
            return f"{part}: {reason}"
        return None

    @property
    def since(self) -> datetime | None:
        """When the store became degraded; None when ok."""
        return self._since if self._failing else None

    def failing(self, part: str, reason: str) -> None:
        """A write of `part` failed for `reason`, and it will try again."""
        was_ok = not self._failing
        self._failing[part] = reason
        if was_ok:
            self._since = self._clock.now()
            self.outages += 1
            self._ok = anyio.Event()
            self._degraded.set()
            log.warning(
                "the job store is unavailable (%s: %s): the engine is degraded until it returns", part, reason
            )

    def recovered(self, part: str) -> None:
        """A write of `part` went through: it is not failing (any more)."""
        if self._failing.pop(part, None) is None or self._failing:
            return
        down = (self._clock.now() - self._since).total_seconds() if self._since else 0.0
        self._degraded = anyio.Event()
        self._ok.set()
        log.info("the job store is available again after %.1f s: the engine is ok", down)

    async def wait_ok(self) -> None:
        """Return once the store is ok (at once if it is)."""
        if self._failing:
            await self._ok.wait()

    async def wait_degraded(self) -> None:
        """Return once the store is degraded (at once if it is)."""
        if not self._failing:
            await self._degraded.wait()
