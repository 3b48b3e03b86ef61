"""Actor tests run the real Supervisor over in-memory ports and a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import pytest

from nomaflow.actors import JobPlan, Supervisor
from nomaflow.engine.clock import ManualClock
from tests.fakes import Catalog, FunctionExecutor, Handler, ImmediateLogs, MemoryStore, RecordingSink


@dataclass
class Rig:
    supervisor: Supervisor
    store: MemoryStore
    sink: RecordingSink
    clock: ManualClock
    executor: FunctionExecutor


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def running(handlers: dict[str, Handler], *jobs: JobPlan) -> AsyncIterator[Rig]:
    store, sink, clock = MemoryStore(), RecordingSink(), ManualClock()
    executor = FunctionExecutor(handlers)
    supervisor = Supervisor(
        catalog=Catalog(*jobs),
        store=store,
        executor=executor,
        events=sink,
        logs=ImmediateLogs(store, sink),
        clock=clock,
        owner="test-engine",
    )
    async with anyio.create_task_group() as group:
        await group.start(supervisor.run)
        yield Rig(supervisor, store, sink, clock, executor)
        with anyio.fail_after(5):
            await supervisor.shutdown(0)
