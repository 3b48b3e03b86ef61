"""The store calls one engine run makes, captured from a real run and replayed as the per-step write
baseline: the same rows, in the same batches, straight through the engine's own SqlStore."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec

from nomaflow.engine.store import SqlStore

# One store call as the actors made it: the SqlStore method's name and its arguments.
StoreCall = tuple[str, tuple[Any, ...]]
# (method name, when it was called, when it returned), in time.perf_counter() seconds.
CallTime = tuple[str, float, float]

WRITES = ("admit", "insert_skipped", "apply", "append_logs")


@contextmanager
def captured_writes(store: SqlStore, times: list[CallTime] | None = None) -> Iterator[list[StoreCall]]:
    """Record the write calls the actors make on `store` (they hold this very instance), and when
    each began and returned, if `times` is given."""
    calls: list[StoreCall] = []

    def recorder(name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(store, name)

        async def record(*args: Any) -> Any:
            calls.append((name, args))
            begun = time.perf_counter()
            result = await method(*args)
            if times is not None:
                times.append((name, begun, time.perf_counter()))
            return result

        return record

    for name in WRITES:
        setattr(store, name, recorder(name))
    try:
        yield calls
    finally:
        for name in WRITES:
            delattr(store, name)


def fresh_copy(calls: list[StoreCall]) -> list[StoreCall]:
    """The same calls for a new run id at the current time: the same rows, in the same batches."""
    run_id, now = str(uuid.uuid4()), datetime.now(UTC)
    copies: list[StoreCall] = []
    for name, args in calls:
        if name == "admit":
            run, steps, seq, moves = args
            run = msgspec.structs.replace(run, id=run_id, started_at=now)
            steps = [msgspec.structs.replace(step, run_id=run_id) for step in steps]
            moves = [msgspec.structs.replace(move, run_id=run_id, at=now) for move in moves]
            copies.append((name, (run, steps, seq, moves)))
        elif name in ("apply", "append_logs"):
            (items,) = args
            copies.append((name, ([msgspec.structs.replace(item, run_id=run_id, at=now) for item in items],)))
        else:
            raise AssertionError(f"a run of the chain job should not call {name}")
    return copies


async def replay(store: SqlStore, calls: list[StoreCall]) -> None:
    for name, args in calls:
        await getattr(store, name)(*args)


def describe_writes(calls: list[StoreCall]) -> str:
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    shape = f"{len(calls)} store calls ({' + '.join(f'{n} {name}' for name, n in counts.items())})"
    batches = sorted({len(args[0]) for name, args in calls if name == "apply"})
    if batches:
        shape += f", apply batches of {' or '.join(map(str, batches))} changes"
    return shape
