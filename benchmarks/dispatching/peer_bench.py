"""procrastinate on the same PostgreSQL, in the same process: the nearest Python peer of the engine,
measured beside it. It comes with the `bench` extra; without it the peer's figures are left out and the
report says why."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from typing import Any

import anyio

from benchmarks.harness.stats import median

CONCURRENCY = 10
WARM_UP = 20


def why_no_peer(*, left_out: bool, postgresql: bool) -> str | None:
    """Why this run has no peer figures, or None when it has them."""
    if left_out:
        return "left out (--no-peer)"
    if not postgresql:
        return "procrastinate runs on PostgreSQL only, which this run leaves out"
    if find_spec("procrastinate") is None or find_spec("psycopg") is None:
        return "procrastinate is not installed (the bench extra: .venv/bin/pip install -e '.[dev,bench]')"
    return None


def peer_version() -> str:
    try:
        return f"procrastinate {version('procrastinate')}"
    except PackageNotFoundError:
        return "procrastinate (version unknown)"


class PeerBench:
    """procrastinate's app on the benchmark's database, and its figures."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.latency_ms: list[float] = []
        self.block_rates: list[float] = []  # jobs/s, per drained block
        self._started = anyio.Event()
        self._start_times: list[float] = []

        async def mark_start() -> None:
            self._start_times.append(time.perf_counter())
            self._started.set()

        async def noop() -> None:
            return None

        self._mark_start = app.task(name="mark_start", queue="latency")(mark_start)
        self._noop = app.task(name="noop", queue="drain")(noop)

    @property
    def jobs_per_s(self) -> float:
        return median(self.block_rates)

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        """A worker on LISTEN/NOTIFY, one job at a time, for the latency phase; stopped on leaving."""
        worker = partial(
            self.app.run_worker_async,
            queues=["latency"],
            concurrency=CONCURRENCY,
            wait=True,
            listen_notify=True,
            install_signal_handlers=False,
        )
        async with anyio.create_task_group() as group:
            group.start_soon(worker)
            await self.latency(WARM_UP, keep=False)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    async def latency(self, jobs: int, *, keep: bool = True) -> None:
        """Defer-to-start of `jobs` jobs, one at a time, each awaited until it is recorded as done (as
        the engine's side awaits each run)."""
        for _ in range(jobs):
            self._started = anyio.Event()
            before = time.perf_counter()
            job_id = await self._mark_start.defer_async()
            with anyio.fail_after(30):
                await self._started.wait()
            if keep:
                self.latency_ms.append((self._start_times[-1] - before) * 1000)
            while True:
                [job] = await self.app.job_manager.list_jobs_async(id=job_id)
                if job.status == "succeeded":
                    break
                await anyio.sleep(0.0005)

    async def throughput(self, jobs: int) -> None:
        """Defer `jobs` no-op jobs, then time a worker (concurrency 10) draining them."""
        for first in range(0, jobs, 500):
            await self._noop.batch_defer_async(*({} for _ in range(min(500, jobs - first))))
        begun = time.perf_counter()
        await self.app.run_worker_async(
            queues=["drain"],
            concurrency=CONCURRENCY,
            wait=False,
            listen_notify=False,
            install_signal_handlers=False,
        )
        self.block_rates.append(jobs / (time.perf_counter() - begun))
        left = await self.app.job_manager.list_jobs_async(queue="drain", status="todo")
        assert not list(left), "the worker left jobs undone"


async def open_peer(stack: AsyncExitStack, conninfo: str) -> PeerBench:
    """procrastinate's app on `conninfo` with its schema applied; closed when `stack` closes."""
    import procrastinate

    # The app is made here, not at module level, which procrastinate warns about; nothing to fix.
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=CONCURRENCY + 2, max_size=CONCURRENCY + 2
    )
    app = procrastinate.App(connector=connector)
    await stack.enter_async_context(app.open_async())
    await app.schema_manager.apply_schema_async()
    return PeerBench(app)
