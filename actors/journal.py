"""A run's write-ahead of state changes: record now, commit together, publish only after the commit.

Grouping is what keeps the engine's per-step overhead low: a step finishing and the next one starting,
or the last step finishing and the run ending, are one transaction. Log lines emitted before a flush are
committed before it, so a subscriber sees a step's logs before the step's end.
"""

from __future__ import annotations

from actors.events import AnyEvent
from actors.ports import Change, EventSink, LogSink, RunStore


class Journal:
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
        await self._logs.flush()
        changes, events = self._changes, self._pending_events
        self._changes, self._pending_events = [], []
        if changes:
            await self._store.apply(changes)
        for event in events:
            self._events.publish(event)
