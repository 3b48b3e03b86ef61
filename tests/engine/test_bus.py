"""The event bus: listeners in the order they were added, filtered by event type when they ask."""

from __future__ import annotations

from datetime import UTC, datetime

from actors.events import AnyEvent, LogLine, RunFinished, StepStarted
from engine.bus import EventBus

AT = datetime(2026, 11, 29, tzinfo=UTC)


def _events() -> list[AnyEvent]:
    return [
        StepStarted(run_id="r", job="j", seq=1, at=AT, step="s", position=0, attempt=1, input={}),
        LogLine(run_id="r", job="j", seq=2, at=AT, step="s", level="info", message="hi", fields=None),
        RunFinished(run_id="r", job="j", seq=3, at=AT, status="succeeded", error=None),
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
