"""The Socket.IO bridge (engine/server/realtime/socketio.py) in-process: clients are entered in rooms through
python-socketio's manager, and what would be written to their connections is recorded and decoded."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from nomaflow.actors.events import AnyEvent, LogLine, StepStarted
from nomaflow.engine.events.bus import event_as_dict
from nomaflow.engine.server.realtime import socketio as realtime
from nomaflow.engine.server.realtime.socketio import JOBS_ROOM, Realtime, run_room
from tests.engine.server.conftest import Served

pytestmark = pytest.mark.anyio

RUN = "0b7e8c2a-5f1d-4c3e-9a6b-2d4f8e1c7a90"  # a run id no store knows: the bridge does not look


class Wire:
    """Stands in for Engine.IO's `send_packet`: each client's events, decoded, in the order sent."""

    def __init__(self, bridge: Realtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self._bridge = bridge
        self.received: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.packets: list[Any] = []
        self._changed = anyio.Event()
        monkeypatch.setattr(bridge.sio.eio, "send_packet", self._send_packet)

    async def client(self, *rooms: str) -> tuple[str, str]:
        """A connected client in `rooms`: its Socket.IO sid, and its Engine.IO sid (its key in `received`)."""
        eio_sid = f"eio-{len(self.received)}"
        sid = await self._bridge.sio.manager.connect(eio_sid, "/")
        for room in rooms:
            await self._bridge.sio.enter_room(sid, room)
        self.received[eio_sid] = []
        return sid, eio_sid

    async def _send_packet(self, eio_sid: str, packet: Any) -> None:
        text = packet.encode()
        assert text.startswith("42"), text  # Engine.IO MESSAGE carrying a Socket.IO EVENT
        name, data = json.loads(text[2:])
        self.packets.append(packet)
        self.received[eio_sid].append((name, data))
        self._changed.set()

    async def wait_until(self, done: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while True:
                changed = self._changed = anyio.Event()
                if done():
                    return
                await changed.wait()

    def names(self, eio_sid: str) -> list[str]:
        return [name for name, _ in self.received[eio_sid]]


def _line(seq: int, run_id: str = RUN) -> LogLine:
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    return LogLine(run_id=run_id, job="quick", seq=seq, at=at, step="talk", level="info", message=f"{seq}")


def _as_sent_before(event: AnyEvent) -> dict[str, Any]:
    """What `sio.emit(name, event_as_dict(event))` put on the wire, as a client decodes it."""
    return dict(json.loads(json.dumps(event_as_dict(event))))


async def test_a_burst_reaches_every_client_of_the_room_in_order_encoded_once(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = Wire(served.host.realtime, monkeypatch)
    clients = [(await wire.client(run_room(RUN)))[1] for _ in range(3)]
    lines = [_line(seq) for seq in range(1, 2001)]
    for line in lines:  # one burst, as the log writer publishes a committed batch
        served.engine.bus.publish(line)

    await wire.wait_until(lambda: all(len(wire.received[client]) == len(lines) for client in clients))
    for client in clients:
        assert wire.received[client] == [("LogLine", _as_sent_before(line)) for line in lines]
    # One encoding per event, shared by the three connections.
    assert len({id(packet) for packet in wire.packets}) == len(lines)


async def test_rooms_get_what_they_are_for_and_a_client_in_both_gets_each_event_once(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = Wire(served.host.realtime, monkeypatch)
    _, in_run = await wire.client(run_room(RUN))
    _, in_jobs = await wire.client(JOBS_ROOM)
    _, in_both = await wire.client(JOBS_ROOM, run_room(RUN))
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    started = StepStarted(run_id=RUN, job="quick", seq=1, at=at, step="talk", position=0, attempt=1, input={})
    events: list[AnyEvent] = [started, _line(2), _line(3)]
    for event in events:
        served.engine.bus.publish(event)

    await wire.wait_until(lambda: len(wire.received[in_run]) == 3 and len(wire.received[in_both]) == 3)
    assert wire.received[in_run] == [(type(event).__name__, _as_sent_before(event)) for event in events]
    assert wire.received[in_both] == wire.received[in_run]
    assert wire.names(in_jobs) == ["StepStarted"]  # log lines stay in their run's room


async def test_nothing_is_encoded_for_a_room_nobody_is_in(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = Wire(served.host.realtime, monkeypatch)
    encoded: list[str] = []
    encode = realtime.event_packet

    def counting(name: str, data: Any) -> Any:
        encoded.append(name)
        return encode(name, data)

    monkeypatch.setattr(realtime, "event_packet", counting)
    _, listening = await wire.client(run_room(RUN))
    unwatched = "5c0d9e7b-3a2f-4b1c-8d6e-9f0a1b2c3d4e"
    for seq in range(1, 101):
        served.engine.bus.publish(_line(seq, run_id=unwatched))
    served.engine.bus.publish(_line(1))

    # The queue is delivered in order: once the watched line is out, the others have been handled.
    await wire.wait_until(lambda: len(wire.received[listening]) == 1)
    assert encoded == ["LogLine"]


async def test_a_snapshot_goes_to_the_joining_client_only_then_the_runs_events(
    served: Served, monkeypatch: pytest.MonkeyPatch, gate: Path
) -> None:
    wire = Wire(served.host.realtime, monkeypatch)
    answer = await served.http.post(
        "/admin/jobs/gated/run", json={"params": {"gate": str(gate)}}, headers=served.auth("operator")
    )
    run_id = answer.json()["run_id"]
    joining, joiner = await wire.client()
    _, bystander = await wire.client()

    ack = await served.host.realtime._join(joining, {"room": f"run:{run_id}"})
    assert ack == {"ok": True, "room": f"run:{run_id}"}
    await wire.wait_until(lambda: "snapshot" in wire.names(joiner))
    [snapshot] = [data for name, data in wire.received[joiner] if name == "snapshot"]
    assert snapshot["room"] == f"run:{run_id}" and snapshot["run"]["status"] == "running"

    await anyio.Path(gate).touch()
    await wire.wait_until(lambda: "RunFinished" in wire.names(joiner))
    after = [data for name, data in wire.received[joiner] if name != "snapshot"]
    assert [data["seq"] for data in after] == sorted({data["seq"] for data in after})
    assert any(data["type"] == "LogLine" and data["message"] == "gate passed" for data in after)
    assert wire.received[bystander] == []
