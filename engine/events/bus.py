"""The event bus: committed facts fanned out to listeners (in-loop callbacks) and subscriptions.

Listeners (the tracker, the Socket.IO bridge) are called synchronously in publish order; one that raises
is reported and skipped, never the publisher's problem (the publisher is a run's actor). A subscription
buffers events for an async consumer; one that falls too far behind is cut off with `Lagged`, and its
consumer catches up from the store, so a slow client never slows the engine.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import msgspec

from nomaflow.actors.events import TERMINAL_EVENTS, AnyEvent

Listener = Callable[[AnyEvent], None]

log = logging.getLogger("nomaflow.bus")


class Lagged(Exception):
    """The subscriber fell more than its buffer behind; it should re-read from the store."""


class Subscription:
    """A bounded buffer of one consumer's events. Offering is a deque append: every trigger subscribes
    to its own run (for `RunHandle.events()`), so this is on the path of every event the engine makes."""

    def __init__(self, bus: EventBus, run_id: str | None, buffer: int) -> None:
        self._bus = bus
        self.run_id = run_id
        self._buffer = buffer
        self._queue: deque[AnyEvent] = deque()
        self._arrived: anyio.Event | None = None  # while the consumer waits for the next event
        self._closed = False  # nothing more will be offered; what is queued can still be read
        self.lagged = False

    def offer(self, event: AnyEvent) -> None:
        if self._closed or (self.run_id is not None and event.run_id != self.run_id):
            return
        if len(self._queue) >= self._buffer:
            self.lagged = True
            self.close()
            return
        self._queue.append(event)
        if self._arrived is not None:
            self._arrived.set()
        if self.run_id is not None and isinstance(event, TERMINAL_EVENTS):
            self.close()  # nothing more will come for this run

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus._forget(self)
            if self._arrived is not None:
                self._arrived.set()

    def discard(self) -> None:
        """Close for good, unread: nothing is left buffered."""
        self.close()
        self._queue.clear()

    def __aiter__(self) -> AsyncIterator[AnyEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AnyEvent]:
        queue = self._queue
        try:
            while True:
                if queue:
                    yield queue.popleft()
                elif self._closed:
                    break
                else:
                    self._arrived = anyio.Event()
                    await self._arrived.wait()
                    self._arrived = None
            if self.lagged:
                raise Lagged("the subscriber fell behind and was disconnected")
        finally:
            self.discard()


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[tuple[Listener, frozenset[type[Any]] | None]] = []
        # Per event type, the listeners that take it, in the order they were added; rebuilt on change.
        self._by_type: dict[type[Any], tuple[Listener, ...]] = {}
        # By run id (None: every run), so a publish touches only the subscriptions that want it.
        self._subscriptions: dict[str | None, set[Subscription]] = {}
        self.published = 0

    def add_listener(
        self, listener: Listener, *, only: tuple[type[AnyEvent], ...] | None = None
    ) -> Callable[[], None]:
        """Call `listener` with every event, or with the events of the types in `only`. A step
        publishes two events and may log many lines: a listener that wants run events only should
        say so, and costs those nothing."""
        entry = (listener, frozenset(only) if only is not None else None)
        self._listeners.append(entry)
        self._by_type.clear()

        def detach() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)
                self._by_type.clear()

        return detach

    def _listeners_of(self, kind: type[Any]) -> tuple[Listener, ...]:
        listeners = self._by_type[kind] = tuple(
            listener for listener, only in self._listeners if only is None or kind in only
        )
        return listeners

    def subscribe(self, run_id: str | None = None, *, buffer: int = 10_000) -> Subscription:
        subscription = Subscription(self, run_id, buffer)
        self._subscriptions.setdefault(run_id, set()).add(subscription)
        return subscription

    def publish(self, event: AnyEvent) -> None:
        self.published += 1
        kind = type(event)
        listeners = self._by_type.get(kind)
        for listener in listeners if listeners is not None else self._listeners_of(kind):
            try:  # free when nothing is raised (Python 3.11's exception tables)
                listener(event)
            except Exception:
                log.exception(
                    "a listener of the event bus (%r) failed on %s of run %s",
                    listener,
                    kind.__name__,
                    event.run_id,
                    extra={"run_id": event.run_id, "job": event.job},
                )
        subscriptions = self._subscriptions
        if subscriptions:
            # Copied: an offer may close its subscription, which leaves the set.
            for key in (None, event.run_id):
                chosen = subscriptions.get(key)
                if chosen:
                    for subscription in tuple(chosen):
                        subscription.offer(event)

    def _forget(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[subscription.run_id]


def event_as_dict(event: AnyEvent) -> dict[str, Any]:
    """The event as JSON-able data, with its `type` tag (as sent over Socket.IO)."""
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]
