"""A run's outbox of state changes: record now, commit together, publish only after the commit.

Grouping is what keeps the engine's per-step overhead low: a step finishing and the next one starting,
or the last step finishing and the run ending, are one transaction. Log lines emitted before a flush are
committed before it, so a subscriber sees a step's logs before the step's end.
"""

from __future__ import annotations

import anyio

from nomaflow.actors.events import AnyEvent
from nomaflow.actors.ports import Change, EventSink, LogSink, RunStore


class Outbox:
    def __init__(self, store: RunStore, events: EventSink, logs: LogSink) -> None:
        self._store = store
        self._events = events
        self._logs = logs
        self._changes: list[Change] = []
        self._pending_events: list[AnyEvent] = []

    def record(self, change: Change, event: AnyEvent) -> None:
        self._changes.append(change)
        self._pending_events.append(event)

    def take(self) -> tuple[list[Change], list[AnyEvent]]:
        """Hand over what was recorded, to be committed some other way (the run's admission)."""
        taken = self._changes, self._pending_events
        self._changes, self._pending_events = [], []
        return taken

    @property
    def dirty(self) -> bool:
        return bool(self._changes or self._pending_events)

    async def flush(self) -> None:
        """Commit what was recorded, then publish it. Cancelled, it keeps what it did not commit for the
        next flush (a run's end flushes under a shield), so a move is never lost between the two."""
        await self._logs.flush()
        changes, events = self._changes, self._pending_events
        self._changes, self._pending_events = [], []
        if changes:
            try:
                await self._store.apply(changes)
            except anyio.get_cancelled_exc_class():
                # The store writes nothing when cancelled (its contract): these still have to go in.
                self._changes[:0], self._pending_events[:0] = changes, events
                raise
        for event in events:
            self._events.publish(event)
