"""The actor primitive: a task that owns its state and handles one mailbox message at a time.

Mailboxes are anyio memory streams of frozen structs. Asking an actor something passes a `Reply`, a
one-shot slot the actor fills; the asker awaits it.
"""

from __future__ import annotations

import math
import sys
from typing import Generic, TypeVar, cast

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

M = TypeVar("M")
T = TypeVar("T")


class Reply(Generic[T]):
    """A one-shot answer: set once by the actor, awaited by the asker."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def get(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)  # set together with the event when there is no error


class Mailbox(Generic[M]):
    """An unbounded mailbox: senders never block, the owner reads in order."""

    __slots__ = ("_receive", "_send")

    def __init__(self) -> None:
        send: MemoryObjectSendStream[M]
        receive: MemoryObjectReceiveStream[M]
        send, receive = anyio.create_memory_object_stream[M](max_buffer_size=math.inf)
        self._send = send
        self._receive = receive

    def tell(self, message: M) -> bool:
        """Deliver `message`; False if the actor has ended and nobody will ever read it."""
        try:
            self._send.send_nowait(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    async def receive(self) -> M:
        return await self._receive.receive()

    def waiting(self, limit: int) -> list[M]:
        """Up to `limit` messages already queued, taken without waiting (or yielding to other tasks)."""
        taken: list[M] = []
        while len(taken) < limit:
            try:
                taken.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        return taken

    def close(self) -> list[M]:
        """Take no more messages. Returns those still queued, which nobody will read now, so the owner
        can answer them (a sender waiting on a reply would otherwise wait forever)."""
        self._send.close()
        left = self.waiting(sys.maxsize)
        self._receive.close()
        return left
