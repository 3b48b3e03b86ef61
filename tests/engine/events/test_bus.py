"""The event bus: listeners in the order they were added, filtered by event type when they ask; and
subscriptions, which buffer a run's events (or every run's) for an async consumer."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import msgspec
import pytest

from nomaflow.actors.events import AnyEvent, LogLine, RunFinished, StepStarted
from nomaflow.engine.events.bus import EventBus, Lagged
from nomaflow.states import RunState

AT = datetime(2026, 11, 29, tzinfo=UTC)


def _events() -> list[AnyEvent]:
    return [
        StepStarted(run_id="r", job="j", seq=1, at=AT, step="s", position=0, attempt=1, input={}),
        LogLine(run_id="r", job="j", seq=2, at=AT, step="s", level="info", message="hi", fields=None),
        RunFinished(run_id="r", job="j", seq=3, at=AT, status=RunState.SUCCEEDED, error=None),
    ]


def test_listeners_get_every_event_or_only_the_types_they_asked_for() -> None:
    bus = EventBus()
    heard: list[tuple[str, int]] = []
    bus.add_listener(lambda event: heard.append(("all", event.seq)))
    bus.add_listener(lambda event: heard.append(("ends", event.seq)), only=(RunFinished,))
    bus.add_listener(lambda event: heard.append(("steps", event.seq)), only=(StepStarted, RunFinished))
    for event in _events():
        bus.publish(event)
    assert heard == [
        ("all", 1),
        ("steps", 1),
        ("all", 2),
        ("all", 3),
        ("ends", 3),
        ("steps", 3),
    ]


def test_a_detached_listener_hears_nothing_more_even_after_types_were_seen() -> None:
    bus = EventBus()
    heard: list[int] = []
    detach = bus.add_listener(lambda event: heard.append(event.seq), only=(StepStarted,))
    first, *_ = _events()
    bus.publish(first)
    detach()
    detach()  # twice is harmless
    bus.publish(first)
    late: list[int] = []
    bus.add_listener(lambda event: late.append(event.seq))
    bus.publish(first)
    assert heard == [1]
    assert late == [1]


def test_a_listener_may_detach_itself_while_an_event_is_published() -> None:
    bus = EventBus()
    heard: list[str] = []

    def once(event: AnyEvent) -> None:
        heard.append("once")
        detach()

    detach = bus.add_listener(once)
    bus.add_listener(lambda event: heard.append("always"))
    first, *_ = _events()
    bus.publish(first)
    bus.publish(first)
    assert heard == ["once", "always", "always"]


def _of(run_id: str) -> list[AnyEvent]:
    return [msgspec.structs.replace(event, run_id=run_id) for event in _events()]


@pytest.mark.anyio
async def test_a_run_subscription_gets_its_run_only_in_order_and_ends_with_the_run() -> None:
    bus = EventBus()
    subscription = bus.subscribe("r")
    everything = bus.subscribe()
    for ours, theirs in zip(_of("r"), _of("other"), strict=True):
        bus.publish(theirs)
        bus.publish(ours)
    assert [(event.run_id, event.seq) async for event in subscription] == [("r", 1), ("r", 2), ("r", 3)]
    bus.publish(_of("r")[0])  # after the run's end: nobody is left to take it
    assert not bus._subscriptions.get("r")
    # The all-runs subscription goes on after a run ends; it saw both runs, interleaved.
    seen: list[tuple[str, int]] = []
    async for event in everything:
        seen.append((event.run_id, event.seq))
        if len(seen) == 7:
            everything.close()
    assert seen == [("other", 1), ("r", 1), ("other", 2), ("r", 2), ("other", 3), ("r", 3), ("r", 1)]


@pytest.mark.anyio
async def test_a_waiting_consumer_wakes_for_each_event_published_later() -> None:
    bus = EventBus()
    subscription = bus.subscribe("r")
    received: list[int] = []
    took = anyio.Event()

    async def consume() -> None:
        async for event in subscription:
            received.append(event.seq)
            took.set()

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        for event in _of("r"):
            took = anyio.Event()
            bus.publish(event)
            await took.wait()  # the consumer was parked on an empty buffer and woke for this one
    assert received == [1, 2, 3]


@pytest.mark.anyio
async def test_a_subscriber_that_falls_behind_reads_what_was_buffered_then_lagged() -> None:
    bus = EventBus()
    subscription = bus.subscribe(buffer=2)
    for event in _of("r"):
        bus.publish(event)
    assert subscription.lagged
    assert not bus._subscriptions  # cut off: later events no longer reach it
    received: list[int] = []
    with pytest.raises(Lagged, match="fell behind"):
        async for event in subscription:
            received.append(event.seq)
    assert received == [1, 2]


@pytest.mark.anyio
async def test_a_discarded_subscription_drops_what_it_held_and_leaves_the_bus() -> None:
    bus = EventBus()
    subscription = bus.subscribe("r")
    first, *_ = _of("r")
    bus.publish(first)
    subscription.discard()
    bus.publish(first)
    assert not bus._subscriptions
    assert [event async for event in subscription] == []
