"""Password checks in flight, bounded: argon2 is slow and memory-hard on purpose (64 MiB a check with the
library's defaults), so `slots` checks run at once in worker threads, up to `queue` more wait for a
slot, and past that a login is turned away at once, before any hashing. Memory and CPU spent on logins
stay bounded however many arrive together."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio

T = TypeVar("T")
Args = TypeVarTuple("Args")


class Busy(Exception):
    """Every slot is taken and the queue is full."""


class PasswordChecks:
    def __init__(self, *, slots: int, queue: int) -> None:
        self._slots = anyio.CapacityLimiter(slots)
        self._capacity = slots + queue
        self._admitted = 0  # running plus waiting; the event loop is the only one to touch it

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, check: Callable[[Unpack[Args]], T], *args: *Args) -> T:
        """`check(*args)` in a worker thread once a slot is free; Busy at once if too many wait."""
        if self._admitted >= self._capacity:
            raise Busy
        self._admitted += 1
        try:
            # Not abandoned on cancel: a caller that goes away still waits for its thread, so the
            # count above is the real number of checks holding memory.
            return await anyio.to_thread.run_sync(check, *args, limiter=self._slots)
        finally:
            self._admitted -= 1
