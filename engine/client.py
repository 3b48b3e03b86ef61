"""A small client for a Nomaflow server, for orchestrators (Airflow, Dagster, scripts) and the remote CLI.

    from nomaflow.engine.client import NomaflowClient

    with NomaflowClient("https://jobs.example.com", token) as nomaflow:
        run = nomaflow.trigger("billing-nightly-rebuild", params={"period": "2026-10"},
                               idempotency_key=f"billing-{logical_date}")
        for line in nomaflow.stream_logs(run["run_id"]):
            print(line["message"])
        finished = nomaflow.wait(run["run_id"])
        assert finished["status"] == "succeeded", finished["error"]

`NomaflowClient` is synchronous (httpx) and needs nothing but HTTP: waiting and log streaming are
long-polls. `RunFollower` is the live, asynchronous way: Socket.IO events as they happen, with the
REST catch-up that makes what it yields gap-free (docs/socketio.md).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from nomaflow.actors.events import TERMINAL_EVENTS, AnyEvent
from nomaflow.states import FINISHED, RunState

LONG_POLL_SECONDS = 25.0  # under the usual 30 s proxy timeouts


class NomaflowError(Exception):
    """The server said no: `status_code` and its `detail`."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"{status_code}: {_describe(detail)}")
        self.status_code = status_code
        self.detail = detail


class FollowError(Exception):
    """Following a run live failed before the server could say yes or no: no Socket.IO client here, no
    connection, or no answer in time. The message says which."""


def _describe(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(part) for part in item.get("loc", []) if part != "body")
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def _raise_for(response: httpx.Response) -> Any:
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            # Typically the web UI's page: the URL is not the server's base URL (or misses its prefix).
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise NomaflowError(
                response.status_code,
                f"{response.request.url} is not Nomaflow's API (it answered {kind}, not JSON): "
                "give the server's base URL, with the prefix it is mounted under if any",
            ) from None
    try:
        body = response.json()
        detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
    except ValueError:
        detail = response.text or response.reason_phrase
    raise NomaflowError(response.status_code, detail)


def _headers(token: str | None, client: str | None) -> dict[str, str]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if client:
        headers["X-Nomaflow-Client"] = client
    return headers


class NomaflowClient:
    """Synchronous REST client. `server` is the base URL (with any prefix the API is mounted under)."""

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        client: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers=_headers(token, client),
            timeout=httpx.Timeout(timeout, read=LONG_POLL_SECONDS + timeout),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NomaflowClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _get(self, path: str, **params: Any) -> Any:
        query = {key: value for key, value in params.items() if value is not None}
        return _raise_for(self._http.get(path, params=query))

    def _post(self, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        return _raise_for(self._http.post(path, json=body, headers=headers))

    # --- jobs ---

    def jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/admin/jobs")
        return result

    def job(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/admin/jobs/{name}")
        return result

    def trigger(
        self,
        job: str,
        params: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Start a run; returns {"run_id", "status" ("running" or "skipped"), ...}. With an
        `idempotency_key`, calling again (after a timeout, a retry of the task) returns the same run."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = self._post(
            f"/admin/jobs/{job}/run", {"params": dict(params or {}), "dry_run": dry_run}, headers
        )
        return result

    def pause(self, job: str, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/admin/jobs/{job}/pause", {"reason": reason})
        return result

    def resume(self, job: str, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/admin/jobs/{job}/resume", {"reason": reason})
        return result

    # --- runs ---

    def runs(self, **filters: Any) -> dict[str, Any]:
        """One page: job, status, triggered_by, since, until, limit, cursor."""
        result: dict[str, Any] = self._get("/admin/runs", **filters)
        return result

    def run(self, run_id: str, *, wait: float = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/admin/runs/{run_id}", wait=wait or None)
        return result

    def wait(self, run_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Block until the run has ended (or `timeout` seconds passed); returns the run with its steps."""
        deadline = math.inf if timeout is None else timeout
        waited = 0.0
        while True:
            chunk = min(LONG_POLL_SECONDS, max(deadline - waited, 0.0))
            run = self.run(run_id, wait=chunk)
            waited += chunk
            if run["status"] in FINISHED or waited >= deadline:
                return run

    def logs(self, run_id: str, *, after_seq: int = 0, limit: int = 1000, wait: float = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._get(
            f"/admin/runs/{run_id}/logs", after_seq=after_seq, limit=limit, wait=wait or None
        )
        return result

    def stream_logs(self, run_id: str, *, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Every log line (and state transition) of the run from `after_seq` on, as they are written,
        until the run has ended."""
        while True:
            page = self.logs(run_id, after_seq=after_seq, wait=LONG_POLL_SECONDS)
            yield from page["lines"]
            after_seq = page["last_seq"]
            if not page["lines"] and page["run_status"] in FINISHED:
                return

    def abort(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/admin/runs/{run_id}/abort", {"reason": reason})
        return result

    def retry(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/admin/runs/{run_id}/retry")
        return result

    def diagram(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/admin/runs/{run_id}/diagram")
        return result


class CaughtUpLine(msgspec.Struct, frozen=True, kw_only=True):
    """A line read through REST (history, or a gap in the live stream), in the shape of /logs."""

    seq: int
    at: datetime
    step: str | None
    level: str
    message: str
    fields: dict[str, Any] | None = None


class RunFollower:
    """One run's log lines and state changes, live, then its final status (`status`, `error`).

    It joins the run's Socket.IO room first, reads the history through REST, then yields live events
    whose seq it has not yielded yet, filling any gap through REST; so every seq comes once, in order.
    """

    def __init__(
        self,
        server: str,
        token: str,
        run_id: str,
        *,
        client: str | None = None,
        quiet_check_seconds: float = 15.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.run_id = run_id
        self.client = client
        self.quiet_check_seconds = quiet_check_seconds
        self.status: str | None = None
        self.error: str | None = None
        self._last = 0  # the seq of the last line or event yielded
        self._pending: list[CaughtUpLine] = []  # read back when the run was seen to end, to yield

    def __aiter__(self) -> AsyncIterator[CaughtUpLine | AnyEvent]:
        return self._follow()

    async def _follow(self) -> AsyncIterator[CaughtUpLine | AnyEvent]:
        if importlib.util.find_spec("aiohttp") is None:
            # Without it the Socket.IO client logs one line and fails with "Connection refused by the
            # server", which reads like an answer from the server.
            raise FollowError(
                "following a run live needs aiohttp (the Socket.IO client's HTTP library), which is not "
                "installed in this Python: pip install aiohttp, or reinstall nomaflow, which depends on it"
            )
        # Imported here: only those who follow live pay for them.
        import aiohttp
        import socketio

        send, receive = anyio.create_memory_object_stream[tuple[str, Any]](max_buffer_size=math.inf)
        # Our own HTTP session, closed below however the connection ends: the Socket.IO client leaves
        # the one it makes open when connecting fails.
        session = aiohttp.ClientSession()
        sio = socketio.AsyncClient(
            reconnection=True, logger=False, engineio_logger=False, http_session=session
        )
        room = {"room": f"run:{self.run_id}"}
        joined = False
        refusals: list[Any] = []

        async def on_any(event: str, data: Any = None) -> None:
            send.send_nowait((event, data))

        async def on_connect() -> None:
            if joined:  # a reconnection: join the room again (a fresh snapshot comes)
                await sio.emit("join", room)

        async def on_connect_error(data: Any = None) -> None:
            refusals.append(data)

        sio.on("*", on_any)
        sio.on("connect", on_connect)
        sio.on("connect_error", on_connect_error)
        parts = urlsplit(self.server)
        origin = f"{parts.scheme}://{parts.netloc}"
        path = f"{parts.path.rstrip('/')}/socket.io".lstrip("/")
        async with (
            session,
            httpx.AsyncClient(
                base_url=self.server, headers=_headers(self.token, self.client), timeout=30.0
            ) as http,
            receive,
        ):
            try:
                await sio.connect(
                    origin, auth={"token": self.token}, socketio_path=path, wait_timeout=15, retry=False
                )
            except socketio.exceptions.ConnectionError as exc:
                raise _connect_failure(self.server, exc, refusals) from None
            try:
                # Joined before the history is read, so nothing committed after that read is missed.
                await self._join(sio, room)
                joined = True
                async for item in self._stream(http, receive, room["room"]):
                    yield item
            finally:
                with anyio.CancelScope(shield=True):
                    await sio.disconnect()

    async def _join(self, sio: Any, room: dict[str, str]) -> None:
        import socketio

        try:
            ack = await sio.call("join", room, timeout=30)
        except socketio.exceptions.SocketIOError as exc:
            raise FollowError(f"{self.server} did not let us join run {self.run_id}'s room: {exc}") from None
        if not isinstance(ack, dict) or not ack.get("ok"):
            error = ack.get("error") if isinstance(ack, dict) else ack
            raise NomaflowError(404, f"cannot follow run {self.run_id}: {error}")

    async def _stream(
        self, http: httpx.AsyncClient, receive: MemoryObjectReceiveStream[tuple[str, Any]], room: str
    ) -> AsyncIterator[CaughtUpLine | AnyEvent]:
        """The history, then each live event not yielded yet, gaps filled through REST, until the run
        has ended (`status` set)."""
        self._last = 0
        async for line in self._caught_up(http):
            yield line
        while self.status is None:
            with anyio.move_on_after(self.quiet_check_seconds) as quiet:
                name, data = await receive.receive()
            if quiet.cancelled_caught:
                # Nothing for a while: the run may have ended while our link was down.
                await self._ended_as(http, _raise_for(await http.get(f"/admin/runs/{self.run_id}")))
            elif name == "snapshot" and isinstance(data, dict) and data.get("room") == room:
                await self._ended_as(http, data.get("run") or {})
            elif isinstance(data, dict) and data.get("run_id") == self.run_id and "seq" in data:
                event: AnyEvent = msgspec.convert(data, AnyEvent)
                if event.seq <= self._last:
                    continue
                # Some events never reached us: read them back first.
                async for line in self._caught_up(http, before=event.seq):
                    yield line
                self._last = event.seq
                yield event
                if isinstance(event, TERMINAL_EVENTS):
                    self.status = getattr(event, "status", RunState.SKIPPED)
                    self.error = getattr(event, "error", None) or getattr(event, "reason", None)
            for line in self._pending:
                yield line
            self._pending = []

    async def _ended_as(self, http: httpx.AsyncClient, run: dict[str, Any]) -> None:
        """The run as the server sees it now: if it has ended, what is left of its log is read (kept in
        `_pending`, yielded next) and its final status taken."""
        if run.get("status") in FINISHED:
            self._pending = [line async for line in self._caught_up(http)]
            self.status, self.error = run["status"], run.get("error")

    async def _caught_up(
        self, http: httpx.AsyncClient, before: int | None = None
    ) -> AsyncIterator[CaughtUpLine]:
        """The lines after the last one yielded (and before `before`), read through REST."""
        if before is not None and before <= self._last + 1:
            return
        async for line in self._catch_up(http, self._last, before=before):
            self._last = line.seq
            yield line

    async def _catch_up(
        self, http: httpx.AsyncClient, after: int, before: int | None = None
    ) -> AsyncIterator[CaughtUpLine]:
        while True:
            page = _raise_for(await http.get(f"/admin/runs/{self.run_id}/logs", params={"after_seq": after}))
            lines = [msgspec.convert(line, CaughtUpLine) for line in page["lines"]]
            for line in lines:
                if before is not None and line.seq >= before:
                    return
                after = line.seq
                yield line
            if not lines:
                return


def _connect_failure(server: str, error: Exception, refusals: list[Any]) -> Exception:
    """Why the Socket.IO connection failed: the server refused us (with the status REST would answer,
    401 for a bad token), or we never got as far as asking."""
    for refusal in refusals:
        data = refusal.get("data") if isinstance(refusal, dict) else None
        if isinstance(data, dict) and isinstance(data.get("status"), int):
            return NomaflowError(data["status"], f"Socket.IO connection refused: {data.get('detail')}")
    said = "; ".join(_said(refusal) for refusal in refusals if refusal)
    return FollowError(f"cannot open a Socket.IO connection to {server}: {said or error}")


def _said(refusal: Any) -> str:
    return str(refusal.get("message", refusal)) if isinstance(refusal, dict) else str(refusal)
