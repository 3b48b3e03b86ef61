"""Live events over Socket.IO (python-socketio), mounted in the same ASGI app as the REST API.

A client connects with a token (`auth={"token": ...}` or an `Authorization: Bearer` header), or with the
host application's own sign-in (its cookie or header, when the host plugs in its auth), and joins
rooms: `jobs` (runs starting and ending, step transitions, for every job) and `run:<id>` (one run's
transitions and log lines). On join it is sent a `snapshot` of the room's current state, then every
event the bus publishes — they are published after they are committed — under the event's own name
(`RunStarted`, `StepFinished`, `LogLine`, ...), each with its run's `seq`. docs/socketio.md has the rules
a client follows.

Everything sent (events and snapshots) goes through one ordered queue drained by one task, so a snapshot
taken from the tracker is never overtaken by an older event. The task takes the whole backlog at once
and sends each event encoded once, straight onto its recipients' connections; a room nobody is in costs
nothing. With `[server] socketio_redis_url`, emits go through Redis instead, so clients of every server
process sharing it see every run.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
import socketio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from nomaflow.actors.events import AnyEvent, LogLine
from nomaflow.engine.engine import Engine
from nomaflow.engine.events.bus import event_as_dict
from nomaflow.engine.server.auth.callers import Callers, HostAuthError
from nomaflow.engine.server.auth.tokens import AuthError, bearer_token
from nomaflow.engine.server.metrics import Metrics
from nomaflow.engine.server.realtime import join_state

log = logging.getLogger("nomaflow.socketio")

JOBS_ROOM = "jobs"
NAMESPACE = "/"
QUEUE_SIZE = 20_000  # outgoing messages; past this, events are dropped (and counted) until it drains
_RUN_ROOM = re.compile(r"^run:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")


def run_room(run_id: str) -> str:
    return f"run:{run_id}"


def rooms_of(event: AnyEvent) -> str | list[str]:
    # Log lines go to the run's room only; a client in both rooms gets each other event once.
    room = run_room(event.run_id)
    return room if isinstance(event, LogLine) else [JOBS_ROOM, room]


def refusal(status: int, detail: str) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection: the client's `connect_error` gets a sentence as its message and, as its
    data, the HTTP status REST would have answered with the same reason (401 for "who are you?")."""
    what = "not authorized" if status in (401, 403) else "refused"
    return socketio.exceptions.ConnectionRefusedError(
        f"Socket.IO connection {what}: {detail}", {"status": status, "detail": detail}
    )


@dataclass(frozen=True)
class Snapshot:
    """A room's state, for the one client (`to`, its sid) that has just joined it."""

    data: dict[str, Any]
    to: str


Outgoing = AnyEvent | Snapshot  # what the send queue carries: bus events, encoded only when sent


def event_packet(name: str, data: Any) -> Any:
    """One Socket.IO event as the Engine.IO message that carries it, encoded once for every recipient.

    Socket.IO protocol v5: packet type 2 (EVENT), the default namespace left out, then the JSON array
    [name, data]; Engine.IO wraps it as a text MESSAGE (type 4). msgspec encodes the event Struct as it
    is, so no dict is built on the way; the JSON is what `sio.emit(name, event_as_dict(...))` sends,
    except that text outside ASCII is sent as UTF-8 rather than as \\u escapes.
    """
    text = "2" + msgspec.json.encode((name, data)).decode()
    return eio_packet.Packet(eio_packet.MESSAGE, text)


class Realtime:
    def __init__(
        self,
        callers: Callers,
        *,
        redis_url: str | None = None,
        redis_channel: str = "nomaflow",
        cors_origins: list[str] | None = None,
        max_payload_bytes: int = 1024 * 1024,
        metrics: Metrics | None = None,
    ) -> None:
        self._callers = callers
        self.metrics = metrics
        self._manager = socketio.AsyncRedisManager(redis_url, channel=redis_channel) if redis_url else None
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=self._manager,
            # None: only the server's own origin; browsers elsewhere must be listed.
            cors_allowed_origins=list(cors_origins) if cors_origins else None,
            max_http_buffer_size=max_payload_bytes,
            logger=False,
            engineio_logger=False,
        )
        # Routing is done by the app that mounts it, so every request reaching it is Socket.IO's.
        self.asgi = socketio.ASGIApp(self.sio, socketio_path=None)
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("join", self._join)
        self.sio.on("leave", self._leave)
        self._engine: Engine | None = None
        self._send: MemoryObjectSendStream[Outgoing] | None = None
        self._stopped = anyio.Event()
        self.dropped = 0
        self.clients = 0

    # --- the bridge from the bus ---

    async def run(self, engine: Engine, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Forward the engine's events to the rooms until `close()`."""
        self._engine = engine
        self._stopped = anyio.Event()
        send, receive = anyio.create_memory_object_stream[Outgoing](max_buffer_size=QUEUE_SIZE)
        self._send = send
        detach = engine.bus.add_listener(self._enqueue)
        task_status.started()
        try:
            async with receive:
                while batch := await _next_batch(receive):
                    await self._deliver(batch)
        finally:
            detach()
            self._send = None
            send.close()
            self._stopped.set()

    def _enqueue(self, item: Outgoing) -> None:
        # Called by the bus for every event, in the publisher's task: it only queues; encoding waits
        # until the sender knows somebody is listening.
        if self._send is None:
            return
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:
            self.dropped += 1
            if self.metrics is not None:
                self.metrics.socketio_dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("Socket.IO send queue full: %d events dropped so far", self.dropped)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def _deliver(self, batch: list[Outgoing]) -> None:
        for item in batch:
            to: str | list[str]
            data: dict[str, Any] | AnyEvent
            if isinstance(item, Snapshot):
                name, to, data = "snapshot", item.to, item.data
            else:
                name, to, data = type(item).__name__, rooms_of(item), item
            try:
                if self._manager is None:
                    await self._send_here(name, data, to)
                else:
                    # Through Redis: every server process (this one too) sends it to its own clients.
                    payload = data if isinstance(data, dict) else event_as_dict(data)
                    await self.sio.emit(name, payload, to=to)
            except Exception:
                # A Redis hiccup must not end the bridge; clients re-sync by seq through REST.
                log.exception("could not send %s to %s", name, to)

    async def _send_here(self, name: str, data: Any, to: str | list[str]) -> None:
        """Send to this process's clients in `to`: encoded once, queued on each client's connection.

        Unlike `sio.emit`, no task per recipient and no wait for them: queuing on a connection does
        not block (each has its own unbounded queue and writer task), so a whole batch goes out in one
        turn of the event loop, in order, and a room nobody is in costs a dict lookup.
        """
        recipients = [eio_sid for _, eio_sid in self.sio.manager.get_participants(NAMESPACE, to)]
        if not recipients:
            return
        packet = event_packet(name, data)
        for eio_sid in recipients:
            # One that disconnected meanwhile is skipped; its disconnect handler does the rest.
            with contextlib.suppress(eio_exceptions.EngineIOError):
                await self.sio.eio.send_packet(eio_sid, packet)

    async def close(self) -> None:
        """Send what is queued, then disconnect every client and stop Socket.IO's background work."""
        send, self._send = self._send, None
        if send is not None:
            send.close()
            await self._stopped.wait()
        await self.sio.shutdown()
        if self._manager is not None:
            listener = getattr(self._manager, "thread", None)
            if listener is not None:
                listener.cancel()
            redis = getattr(self._manager, "redis", None)
            if redis is not None:
                await redis.aclose()

    # --- Socket.IO handlers ---

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        try:
            # The handshake as the host's auth callable sees a REST request: headers, cookies, client.
            principal = await self._callers.identify(HTTPConnection(environ["asgi.scope"]), token)
        except AuthError as exc:
            raise refusal(401, str(exc)) from None
        except HTTPException as exc:  # the host's auth callable said no in its own words
            raise refusal(exc.status_code, str(exc.detail)) from None
        except HostAuthError as exc:
            log.error("%s", exc)
            raise refusal(500, str(exc)) from None
        await self.sio.save_session(sid, {"subject": principal.subject, "role": principal.role.name})
        self._count_clients(+1)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        self._count_clients(-1)

    def _count_clients(self, change: int) -> None:
        self.clients = max(0, self.clients + change)
        if self.metrics is not None:
            self.metrics.socketio_clients = self.clients

    async def _join(self, sid: str, data: Any) -> dict[str, Any]:
        """Ack: {"ok": true, "room": ...} then a `snapshot` event; or {"ok": false, "error": ...}."""
        room = data.get("room") if isinstance(data, dict) else data
        engine = self._engine
        if engine is None:
            return {"ok": False, "error": "the engine is not running"}
        if room == JOBS_ROOM:
            await self.sio.enter_room(sid, room)
            # Taken at once after joining and queued behind the events already queued: nothing older
            # than the snapshot can reach the client after it.
            local = join_state.local_in_flight(engine)
            self._enqueue(Snapshot({"room": room, "in_flight": local}, sid))
            others = await join_state.remote_in_flight(engine, {state["run"]["id"] for state in local})
            if others:
                self._enqueue(Snapshot({"room": room, "in_flight": local + others}, sid))
            return {"ok": True, "room": room}
        found = _RUN_ROOM.match(room) if isinstance(room, str) else None
        if found is None:
            return {"ok": False, "error": "room must be 'jobs' or 'run:<run id>'"}
        run_id = found.group(1).lower()
        room = run_room(run_id)
        await self.sio.enter_room(sid, room)
        state = await join_state.run_state(engine, run_id)
        if state is None:
            await self.sio.leave_room(sid, room)
            return {"ok": False, "error": f"no run with id {run_id}"}
        self._enqueue(Snapshot({"room": room, **state}, sid))
        return {"ok": True, "room": room}

    async def _leave(self, sid: str, data: Any) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else data
        if isinstance(room, str):
            await self.sio.leave_room(sid, room)
        return {"ok": True}


async def _next_batch(receive: MemoryObjectReceiveStream[Outgoing], most: int = 5_000) -> list[Outgoing]:
    """Wait for one item, then take whatever else is queued (empty list: the stream has ended).

    Taking the backlog at once is what keeps latency flat under load: receiving item by item costs a
    turn of the event loop each, so a burst of N lines waited for N turns of everything else.
    """
    try:
        batch = [await receive.receive()]
    except anyio.EndOfStream:
        return []
    while len(batch) < most:
        try:
            batch.append(receive.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
    return batch
