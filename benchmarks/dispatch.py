"""Benchmark of dispatch: what the engine (Supervisor -> RunActor -> StepActor -> store) costs on top of
the database writes it has to make, on PostgreSQL and SQLite, beside procrastinate on the same
PostgreSQL.

    .venv/bin/pip install -e '.[dev,bench]'      # procrastinate and psycopg, for the peer figures only
    .venv/bin/python benchmarks/dispatch.py [--quick] [--databases postgresql,sqlite] [--no-peer] [--profile]

From one run it prints, per database:

- trigger-to-first-step latency p50/p99: sequential triggers of a one-step job whose async no-op notes
  time.perf_counter() as it starts, against the moment before `engine.trigger` was called;
- per-step time of a 20-step no-op job, against a baseline that replays the very store calls one engine
  run makes (admit, then the same apply() batches with the same records) straight through the engine's
  own SqlStore, without actors; the calls are captured from a real run, so the baseline follows any
  change in how the actors group their writes;
- one-step runs/s with 50 distinct jobs triggered at once, round after round;
- memory per in-flight run: 1,000 distinct jobs whose step awaits an event, traced by tracemalloc
  while they wait, minus what stays traced once they have ended (so per-job caches filled on first use
  do not count); the same for 100 runs of a 20-step job, for information. (An RSS delta says little
  in a process that has already run the other phases: the allocator reuses the memory they freed.)

and, on the same PostgreSQL, procrastinate's defer-to-start latency p50/p99 (a worker listening with
LISTEN/NOTIFY in the same process, one job at a time) and its worker throughput at concurrency 10 for
a no-op task (jobs deferred first, then a worker drains them); then it checks the targets of issue 2.

The contenders take turns block by block within each phase (engine on PostgreSQL, engine on SQLite,
procrastinate, and the engine against its write baseline), so a machine that gets busier or quieter
during the run shifts them alike and the ratios stay fair. Within a pair of the per-step figure, the
engine's run and its baseline's replay take turns going first, so neither always starts cold after the
other database's work.

PostgreSQL comes from NOMAFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres); the
benchmark creates its own database (nomaflow_bench_dispatch_<random>) and drops it at the end. SQLite
is a file in a temporary folder. `--profile` adds cProfile's top functions for the engine's per-step
and throughput phases and tracemalloc's top allocation sites for the in-flight runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import math
import os
import platform
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
sys.path.insert(0, str(ROOT))
# The install's plugin folder, as the engine puts it on sys.path: both import the one `benchjobs`.
sys.path.insert(0, str(PLUGINS))

import anyio  # noqa: E402
import msgspec  # noqa: E402
from benchjobs.steps import probe  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from nomaflow.engine import Engine, RunHandle  # noqa: E402
from nomaflow.engine.config import load_install  # noqa: E402
from nomaflow.engine.store import SqlStore  # noqa: E402

PG_URL = os.environ.get("NOMAFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

CHAIN_STEPS = 20
CONCURRENT_JOBS = 50
PEER_CONCURRENCY = 10
TRIGGER_LANES = 50  # callers triggering the in-flight runs side by side
WARM_UP = 20
KIB = 1024

# The targets of issue 2 ("Must show").
MAX_STEP_RATIO = 1.5  # per-step time <= 1.5x the write baseline's
MAX_LATENCY_SHARE = 0.5  # trigger-to-first-step p50 <= half of procrastinate's defer-to-start p50
MIN_THROUGHPUT_RATIO = 1.5  # one-step runs/s >= 1.5x procrastinate's worker jobs/s
MAX_BYTES_PER_RUN = 64 * KIB


@dataclass(frozen=True)
class Sizes:
    latency_runs: int = 300  # per contender, in blocks of 10, contenders taking turns
    chain_runs: int = 100  # runs of the 20-step job, each paired with a replay of its writes
    throughput_runs: int = 2500  # per contender
    throughput_blocks: int = 5
    in_flight: int = 1000  # one-step runs held in flight
    chain_in_flight: int = 100  # 20-step runs held in flight (a figure for information)


QUICK = Sizes(
    latency_runs=80,
    chain_runs=12,
    throughput_runs=600,
    throughput_blocks=3,
    in_flight=300,
    chain_in_flight=50,
)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def shorten(filename: str) -> str:
    for prefix in ("site-packages/", str(ROOT) + "/", "python3.11/"):
        if prefix in filename:
            return filename.split(prefix, 1)[1]
    return filename


# --- the engine's side ----------------------------------------------------------------------------

# One store call as the actors made it: the SqlStore method's name and its arguments.
StoreCall = tuple[str, tuple[Any, ...]]


@contextmanager
def captured_writes(
    store: SqlStore, times: list[tuple[str, float, float]] | None = None
) -> Iterator[list[StoreCall]]:
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

    names = ("admit", "insert_skipped", "apply", "append_logs")
    for name in names:
        setattr(store, name, recorder(name))
    try:
        yield calls
    finally:
        for name in names:
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


def describe_writes(calls: list[StoreCall]) -> str:
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    shape = f"{len(calls)} store calls ({' + '.join(f'{n} {name}' for name, n in counts.items())})"
    batches = sorted({len(args[0]) for name, args in calls if name == "apply"})
    if batches:
        shape += f", apply batches of {' or '.join(map(str, batches))} changes"
    return shape


def python_step(name: str, function: str) -> dict[str, Any]:
    return {"name": name, "type": "python", "callable": f"benchjobs.steps:{function}"}


class EngineBench:
    """One engine on one database, and its figures."""

    def __init__(self, database: str, engine: Engine, sizes: Sizes, *, profile: bool) -> None:
        self.database = database
        self.engine = engine
        self.sizes = sizes
        self.latency_ms: list[float] = []
        # (wall seconds, process CPU seconds) per run of the 20-step job, and per replay of its writes
        self.engine_runs: list[tuple[float, float]] = []
        self.baseline_runs: list[tuple[float, float]] = []
        self.chain_writes = ""
        self.block_rates: list[float] = []  # one-step runs/s, per block
        self.failed_runs = 0
        self.bytes_per_run = math.nan  # traced, per in-flight one-step run
        self.chain_bytes_per_run = math.nan  # traced, per in-flight 20-step run
        self.memory_sites: list[str] = []
        # Medians of the stretches of trigger-to-first-step, in ms (with --profile).
        self.latency_phases: dict[str, list[float]] | None = {} if profile else None
        self.chain_profile = cProfile.Profile() if profile else None
        self.baseline_profile = cProfile.Profile() if profile else None
        self.throughput_profile = cProfile.Profile() if profile else None
        self._chain_calls: list[StoreCall] = []
        chain = [python_step(f"s{i}", "noop") for i in range(1, CHAIN_STEPS + 1)]
        engine.define_job(name="latency", steps=[python_step("s1", "mark_start")])
        engine.define_job(name="chain", steps=chain)
        for index in range(CONCURRENT_JOBS):
            engine.define_job(name=f"one-{index}", steps=[python_step("s1", "noop")])
        for index in range(sizes.in_flight):
            engine.define_job(name=f"hold-{index}", steps=[python_step("s1", "hold")])
        for index in range(sizes.chain_in_flight):
            engine.define_job(name=f"hold-chain-{index}", steps=[python_step("s0", "hold"), *chain[1:]])

    def _median_step_us(self, runs: list[tuple[float, float]], which: int) -> float:
        return median([run[which] for run in runs]) / CHAIN_STEPS * 1e6

    @property
    def engine_step_us(self) -> float:
        return self._median_step_us(self.engine_runs, 0)

    @property
    def baseline_step_us(self) -> float:
        return self._median_step_us(self.baseline_runs, 0)

    @property
    def step_ratio(self) -> float:
        return self.engine_step_us / self.baseline_step_us

    @property
    def engine_cpu_step_us(self) -> float:
        return self._median_step_us(self.engine_runs, 1)

    @property
    def baseline_cpu_step_us(self) -> float:
        return self._median_step_us(self.baseline_runs, 1)

    @property
    def cpu_step_ratio(self) -> float:
        return self.engine_cpu_step_us / self.baseline_cpu_step_us

    @property
    def runs_per_s(self) -> float:
        return median(self.block_rates)

    async def run_job(self, job: str) -> str:
        outcome = await (await self.engine.trigger(job)).wait()
        return outcome.status

    async def warm_up(self) -> None:
        """Connections, statement caches and plans first, so the first block is not the slowest."""
        for _ in range(WARM_UP):
            probe.reset()
            assert await self.run_job("latency") == "succeeded"
        for _ in range(2):
            assert await self.run_job("chain") == "succeeded"
        with captured_writes(self.engine.store) as calls:
            assert await self.run_job("chain") == "succeeded"
        self._chain_calls = calls
        self.chain_writes = describe_writes(calls)
        await self._replay(fresh_copy(calls))
        await self.throughput(CONCURRENT_JOBS, timed=False)

    async def latency(self, runs: int) -> None:
        for _ in range(runs):
            probe.reset()
            times: list[tuple[str, float, float]] = []
            timing = self.latency_phases is not None
            with captured_writes(self.engine.store, times) if timing else nullcontext():
                before = time.perf_counter()
                run = await self.engine.trigger("latency")
                outcome = await run.wait()
            assert outcome.status == "succeeded", outcome
            started = probe.starts[0]
            self.latency_ms.append((started - before) * 1000)
            if self.latency_phases is not None:
                self._note_phases(before, started, times)

    def _note_phases(self, before: float, started: float, times: list[tuple[str, float, float]]) -> None:
        """Split one trigger-to-first-step into its stretches, by the store call in between."""
        assert self.latency_phases is not None
        admit, admit_begun, admitted = times[0]
        assert admit == "admit", times
        for label, seconds in (
            (
                "trigger -> admit() called (supervisor, run actor, step actors, first step's input)",
                admit_begun - before,
            ),
            (
                "admit() (run + steps, first one started + transition rows, one transaction)",
                admitted - admit_begun,
            ),
            ("admitted -> the step's code runs", started - admitted),
        ):
            self.latency_phases.setdefault(label, []).append(seconds * 1000)

    async def _replay(self, calls: list[StoreCall]) -> None:
        store = self.engine.store
        for name, args in calls:
            await getattr(store, name)(*args)

    async def chain(self, engine_first: bool) -> None:
        """One run of the 20-step job and one replay of its store calls, each timed. The two take turns
        going first: whichever comes first runs right after the other database's work (its code and
        data out of the CPU caches), which made the engine's figure on the second database ~15% worse
        when it always went first."""
        # Made before the clock starts: the baseline is the writes alone, not building their records.
        calls = fresh_copy(self._chain_calls)
        if engine_first:
            await self._time_engine_run()
            await self._time_replay(calls)
        else:
            await self._time_replay(calls)
            await self._time_engine_run()

    async def _time_engine_run(self) -> None:
        profile = self.chain_profile
        if profile:
            profile.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        status = await self.run_job("chain")
        self.engine_runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        if profile:
            profile.disable()
        assert status == "succeeded", status

    async def _time_replay(self, calls: list[StoreCall]) -> None:
        profile = self.baseline_profile
        if profile:
            profile.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        await self._replay(calls)
        self.baseline_runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        if profile:
            profile.disable()

    async def throughput(self, runs: int, *, timed: bool = True) -> None:
        """`runs` one-step runs, in rounds of 50 distinct jobs triggered at once."""
        statuses: list[str] = []

        async def one(job: str) -> None:
            statuses.append(await self.run_job(job))

        profile = self.throughput_profile if timed else None
        if profile:
            profile.enable()
        begun = time.perf_counter()
        for _ in range(max(1, runs // CONCURRENT_JOBS)):
            async with anyio.create_task_group() as group:
                for index in range(CONCURRENT_JOBS):
                    group.start_soon(one, f"one-{index}")
        elapsed = time.perf_counter() - begun
        if profile:
            profile.disable()
        if timed:
            self.block_rates.append(len(statuses) / elapsed)
            self.failed_runs += sum(status != "succeeded" for status in statuses)

    async def _trigger_all(self, jobs: list[str]) -> list[RunHandle]:
        handles: list[RunHandle] = []

        async def lane(names: list[str]) -> None:
            for name in names:
                handles.append(await self.engine.trigger(name))

        async with anyio.create_task_group() as group:
            for lane_index in range(TRIGGER_LANES):
                group.start_soon(lane, jobs[lane_index::TRIGGER_LANES])
        return handles

    async def _hold(self, jobs: list[str], measure: Callable[[], None], *, abort: bool = False) -> None:
        """Put every job in flight, call `measure` once each first step waits, then release them (or
        abort them, which skips their remaining steps in one write)."""
        probe.reset(expected=len(jobs))
        handles = await self._trigger_all(jobs)
        with anyio.fail_after(300):
            await probe.all_entered.wait()
        gc.collect()
        measure()
        if abort:
            for handle in handles:
                await handle.abort("the benchmark has measured it")
        else:
            probe.release.set()
        for handle in handles:
            outcome = await handle.wait()
            assert outcome.status == ("aborted" if abort else "succeeded"), outcome
        del handles
        gc.collect()

    async def _in_flight(self, jobs: list[str], sites: bool, *, abort: bool = False) -> float:
        """Traced bytes per run that `jobs` hold while in flight: traced memory while they all wait,
        minus traced memory once they have ended, so what their first use left behind (plans,
        prepared statements) does not count. tracemalloc must be tracing."""
        during: list[int] = []
        snapshots: list[tracemalloc.Snapshot] = []

        def note() -> None:
            during.append(tracemalloc.get_traced_memory()[0])
            if sites:
                snapshots.append(tracemalloc.take_snapshot())

        await self._hold(jobs, note, abort=abort)
        after = tracemalloc.get_traced_memory()[0]
        if sites:
            self.memory_sites = memory_sites(tracemalloc.take_snapshot(), snapshots[0], len(jobs))
        return (during[0] - after) / len(jobs)

    async def memory(self, sites: bool) -> None:
        jobs = [f"hold-{index}" for index in range(self.sizes.in_flight)]
        chains = [f"hold-chain-{index}" for index in range(self.sizes.chain_in_flight)]
        tracemalloc.start(25 if sites else 1)
        try:
            self.bytes_per_run = await self._in_flight(jobs, sites)
            self.chain_bytes_per_run = await self._in_flight(chains, False, abort=True)
        finally:
            tracemalloc.stop()


def memory_sites(before: tracemalloc.Snapshot, during: tracemalloc.Snapshot, count: int) -> list[str]:
    """Where the in-flight runs' memory was allocated: by file, then the top lines."""
    lines = []
    by_file = during.compare_to(before, "filename")
    total = sum(stat.size_diff for stat in by_file)
    lines.append(f"in flight: {total / count / KIB:.1f} KiB per run; by file:")
    for stat in by_file[:18]:
        lines.append(
            f"  {stat.size_diff / count:7.0f} B/run {stat.size_diff / total:6.1%} "
            f"{stat.count_diff / count:5.1f} blocks/run  {shorten(stat.traceback[0].filename)}"
        )
    lines.append("by line:")
    for stat in during.compare_to(before, "lineno")[:25]:
        frame = stat.traceback[0]
        lines.append(f"  {stat.size_diff / count:7.0f} B/run  {shorten(frame.filename)}:{frame.lineno}")
    return lines


# Where profiled time is spent, by area: (path prefix, label); our packages first.
_AREAS = (
    ("states/", "states (our machines)"),
    ("actors/", "actors (our actors)"),
    ("engine/store/", "engine.store (our store)"),
    ("engine/", "engine (our other modules)"),
    ("benchmarks/", "the benchmark and its no-op steps"),
    ("transitions/", "transitions"),
    ("sqlalchemy/", "sqlalchemy"),
    ("asyncpg/", "asyncpg"),
    ("aiosqlite/", "aiosqlite"),
    ("anyio/", "anyio"),
    ("asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("msgspec/", "msgspec"),
)


def area_of(filename: str, function: str) -> str:
    if filename == "~":
        if "epoll" in function:
            return "idle in epoll (waiting for the database or a thread)"
        if "SimpleQueue" in function:
            return "hand-offs to aiosqlite's thread (queue put)"
        return "C built-ins"
    path = shorten(filename)
    for prefix, label in _AREAS:
        if path.startswith(prefix):
            return label
    return f"other: {path.split('/')[0]}"


def own_time_by_area(profile: cProfile.Profile) -> dict[str, float]:
    by_area: dict[str, float] = {}
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, own, _, _) in stats.items():
        label = area_of(filename, function)
        by_area[label] = by_area.get(label, 0.0) + own
    return by_area


def top_functions(profile: cProfile.Profile, top: int = 30) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def area_table(profile: cProfile.Profile) -> str:
    by_area = own_time_by_area(profile)
    total = sum(by_area.values())
    lines = [f"own time {total:.2f} s, by area:"]
    for label, own in sorted(by_area.items(), key=lambda item: -item[1]):
        if own / total >= 0.002:
            lines.append(f"  {own / total:6.1%}  {own:6.2f} s  {label}")
    return "\n".join(lines)


def extra_table(engine: cProfile.Profile, baseline: cProfile.Profile, steps: int) -> str:
    """Own time per step of the engine's runs against the baseline's replays, by area: what the engine
    adds on top of its writes, and where."""
    ours, theirs = own_time_by_area(engine), own_time_by_area(baseline)
    extra = {label: ours.get(label, 0.0) - theirs.get(label, 0.0) for label in ours.keys() | theirs.keys()}
    added = sum(extra.values())
    lines = [
        f"own time per step under cProfile: engine {sum(ours.values()) / steps * 1e6:.0f} µs, "
        f"baseline {sum(theirs.values()) / steps * 1e6:.0f} µs, added {added / steps * 1e6:.0f} µs; by area:",
        f"  {'engine':>8} {'baseline':>9} {'added':>8} {'of added':>8}  (µs per step)",
    ]
    for label, more in sorted(extra.items(), key=lambda item: -item[1]):
        if abs(more) / max(added, 1e-9) >= 0.005:
            lines.append(
                f"  {ours.get(label, 0.0) / steps * 1e6:8.0f} {theirs.get(label, 0.0) / steps * 1e6:9.0f} "
                f"{more / steps * 1e6:8.0f} {more / added:8.1%}  {label}"
            )
    return "\n".join(lines)


# --- procrastinate, the peer ----------------------------------------------------------------------


class PeerBench:
    """procrastinate on the same PostgreSQL, in the same process: the nearest Python peer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.latency_ms: list[float] = []
        self.block_rates: list[float] = []  # jobs/s, per drained block
        self._started = asyncio.Event()
        self._start_times: list[float] = []
        self._worker: asyncio.Task[None] | None = None

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

    async def start_listening_worker(self) -> None:
        self._worker = asyncio.create_task(
            self.app.run_worker_async(
                queues=["latency"],
                concurrency=PEER_CONCURRENCY,
                wait=True,
                listen_notify=True,
                install_signal_handlers=False,
            )
        )
        await asyncio.sleep(0.5)  # let it register and LISTEN
        await self.latency(WARM_UP, keep=False)

    async def stop_listening_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def latency(self, jobs: int, *, keep: bool = True) -> None:
        for _ in range(jobs):
            self._started.clear()
            before = time.perf_counter()
            job_id = await self._mark_start.defer_async()
            await asyncio.wait_for(self._started.wait(), 30)
            if keep:
                self.latency_ms.append((self._start_times[-1] - before) * 1000)
            # Wait for the job to be recorded as done, as the engine's side waits for its run.
            while True:
                [job] = await self.app.job_manager.list_jobs_async(id=job_id)
                if job.status == "succeeded":
                    break
                await asyncio.sleep(0.0005)

    async def throughput(self, jobs: int) -> None:
        """Defer `jobs` no-op jobs, then time a worker (concurrency 10) draining them."""
        for first in range(0, jobs, 500):
            await self._noop.batch_defer_async(*({} for _ in range(min(500, jobs - first))))
        begun = time.perf_counter()
        await self.app.run_worker_async(
            queues=["drain"],
            concurrency=PEER_CONCURRENCY,
            wait=False,
            listen_notify=False,
            install_signal_handlers=False,
        )
        self.block_rates.append(jobs / (time.perf_counter() - begun))
        left = await self.app.job_manager.list_jobs_async(queue="drain", status="todo")
        assert not list(left), "the worker left jobs undone"


# --- set-up ---------------------------------------------------------------------------------------


async def create_pg_database() -> tuple[str, str]:
    import asyncpg

    name = f"nomaflow_bench_dispatch_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        server = await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()
    return name, str(server).split()[0]


async def drop_pg_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def pg_url_of(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


async def open_engine(stack: AsyncExitStack, database_url: str) -> Engine:
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nomaflow-bench-")))
    url = database_url.format(folder=folder)
    (folder / "app.toml").write_text(
        f'[connectors.default]\nurl = "{url}"\n\n[jobs]\nplugins = "{PLUGINS}"\nscheduler_enabled = false\n'
    )
    engine = Engine(load_install(folder / "app.toml"), scheduler=False)
    return await stack.enter_async_context(engine)


async def open_peer(stack: AsyncExitStack, conninfo: str) -> PeerBench:
    import procrastinate

    # The app is made here, not at module level, which procrastinate warns about; nothing to fix.
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=PEER_CONCURRENCY + 2, max_size=PEER_CONCURRENCY + 2
    )
    app = procrastinate.App(connector=connector)
    await stack.enter_async_context(app.open_async())
    await app.schema_manager.apply_schema_async()
    return PeerBench(app)


# --- the run --------------------------------------------------------------------------------------


def share(total: int, blocks: int) -> list[int]:
    """`total` split into `blocks` near-equal parts."""
    return [total // blocks + (index < total % blocks) for index in range(blocks)]


async def measure(arguments: argparse.Namespace) -> tuple[list[EngineBench], PeerBench | None, str | None]:
    sizes = QUICK if arguments.quick else Sizes()
    wanted = {name.strip().lower() for name in arguments.databases.split(",") if name.strip()}
    benches: list[EngineBench] = []
    peer: PeerBench | None = None
    pg_server: str | None = None
    async with AsyncExitStack() as stack:
        if "postgresql" in wanted:
            database, pg_server = await create_pg_database()
            stack.push_async_callback(drop_pg_database, database)
            url = pg_url_of(database)
            engine = await open_engine(stack, url)
            benches.append(EngineBench("PostgreSQL", engine, sizes, profile=arguments.profile))
            if not arguments.no_peer:
                peer = await open_peer(stack, url)
        if "sqlite" in wanted:
            engine = await open_engine(stack, "sqlite:///{folder}/bench.db")
            benches.append(EngineBench("SQLite", engine, sizes, profile=arguments.profile))
        for bench in benches:
            await bench.warm_up()
        names = ", ".join([bench.database for bench in benches] + (["procrastinate"] if peer else []))

        phase = time.perf_counter()
        say(f"latency: {sizes.latency_runs} sequential runs each, in blocks of 10 taking turns: {names}")
        if peer:
            await peer.start_listening_worker()
        for runs in share(sizes.latency_runs, max(1, sizes.latency_runs // 10)):
            for bench in benches:
                await bench.latency(runs)
            if peer:
                await peer.latency(runs)
        if peer:
            await peer.stop_listening_worker()
        say(f"  {time.perf_counter() - phase:.0f} s")

        phase = time.perf_counter()
        say(
            f"per step: {sizes.chain_runs} runs of the {CHAIN_STEPS}-step job, "
            "each paired with a replay of its writes"
        )
        for index in range(sizes.chain_runs):
            for bench in benches:
                await bench.chain(engine_first=index % 2 == 0)
        say(f"  {time.perf_counter() - phase:.0f} s")

        phase = time.perf_counter()
        blocks = sizes.throughput_blocks
        say(f"throughput: {sizes.throughput_runs} one-step runs each, {blocks} blocks taking turns: {names}")
        for runs in share(sizes.throughput_runs, blocks):
            for bench in benches:
                await bench.throughput(runs)
            if peer:
                await peer.throughput(runs)
        say(f"  {time.perf_counter() - phase:.0f} s")

        phase = time.perf_counter()
        say(
            f"memory: {sizes.in_flight} one-step runs in flight, then {sizes.chain_in_flight} "
            f"{CHAIN_STEPS}-step runs, under tracemalloc"
        )
        for bench in benches:
            await bench.memory(arguments.profile)
        say(f"  {time.perf_counter() - phase:.0f} s")
    return benches, peer, pg_server


# --- report ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(benches: list[EngineBench], peer: PeerBench | None, header: str) -> str:
    names = [bench.database for bench in benches]
    lines = [header, "", "| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, cell: Callable[[EngineBench], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(bench) for bench in benches) + " |")

    row("trigger-to-first-step p50", lambda b: f"{percentile(b.latency_ms, 50):.2f} ms")
    row("trigger-to-first-step p99", lambda b: f"{percentile(b.latency_ms, 99):.2f} ms")
    row(f"per step, engine ({CHAIN_STEPS}-step no-op job, median)", lambda b: f"{b.engine_step_us:.0f} µs")
    row("per step, write baseline (same store calls, no actors)", lambda b: f"{b.baseline_step_us:.0f} µs")
    row("per-step ratio, engine / baseline (wall)", lambda b: f"{b.step_ratio:.2f}x")
    row(
        "process CPU per step, engine / baseline",
        lambda b: f"{b.engine_cpu_step_us:.0f} / {b.baseline_cpu_step_us:.0f} µs = {b.cpu_step_ratio:.2f}x",
    )
    row(f"one-step runs/s ({CONCURRENT_JOBS} jobs at once, median block)", lambda b: f"{b.runs_per_s:.0f}")
    row("memory per in-flight one-step run (tracemalloc)", lambda b: f"{b.bytes_per_run / KIB:.1f} KiB")
    row(
        f"memory per in-flight {CHAIN_STEPS}-step run (tracemalloc; no target)",
        lambda b: f"{b.chain_bytes_per_run / KIB:.1f} KiB",
    )
    lines.append("")
    for bench in benches:
        lines.append(f"A {CHAIN_STEPS}-step run on {bench.database} makes {bench.chain_writes}.")
        if bench.failed_runs:
            lines.append(f"WARNING: {bench.failed_runs} throughput runs on {bench.database} did not succeed.")
    if peer is not None:
        lines += [
            "",
            "| procrastinate, same PostgreSQL, same process | |",
            "|---|---:|",
            f"| defer-to-start p50 (worker on LISTEN/NOTIFY) | {percentile(peer.latency_ms, 50):.2f} ms |",
            f"| defer-to-start p99 | {percentile(peer.latency_ms, 99):.2f} ms |",
            f"| worker jobs/s (concurrency {PEER_CONCURRENCY}, median block) | {peer.jobs_per_s:.0f} |",
        ]
    lines += ["", "| target (issue 2) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    row(
        f"per-step time <= {MAX_STEP_RATIO}x the write baseline",
        lambda b: f"{b.step_ratio:.2f}x {verdict(b.step_ratio <= MAX_STEP_RATIO)}",
    )
    if peer is not None:
        peer_p50 = percentile(peer.latency_ms, 50)

        def latency_cell(bench: EngineBench) -> str:
            share = percentile(bench.latency_ms, 50) / peer_p50
            return f"{share:.2f}x {verdict(share <= MAX_LATENCY_SHARE)}"

        def throughput_cell(bench: EngineBench) -> str:
            ratio = bench.runs_per_s / peer.jobs_per_s
            return f"{ratio:.2f}x {verdict(ratio >= MIN_THROUGHPUT_RATIO)}"

        peer_rate = peer.jobs_per_s
        latency_target = f"trigger-to-first-step p50 <= {MAX_LATENCY_SHARE}x procrastinate ({peer_p50:.2f}ms)"
        row(latency_target, latency_cell)
        row(f"one-step runs/s >= {MIN_THROUGHPUT_RATIO}x procrastinate ({peer_rate:.0f}/s)", throughput_cell)
    row(
        f"<= {MAX_BYTES_PER_RUN // KIB} KiB per in-flight run",
        lambda b: f"{b.bytes_per_run / KIB:.1f} KiB {verdict(b.bytes_per_run <= MAX_BYTES_PER_RUN)}",
    )
    if peer is not None and any(bench.database != "PostgreSQL" for bench in benches):
        lines += ["", "procrastinate runs on PostgreSQL only; the SQLite engine is held to the same figures."]
    return "\n".join(lines)


def environment(pg_server: str | None) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    parts = [
        f"nomaflow {commit or '?'}",
        f"Python {platform.python_version()}",
        f"{os.cpu_count()} CPUs (load average at the end: {load})",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if pg_server:
        parts.append(f"PostgreSQL {pg_server}")
        parts.append(f"procrastinate {version('procrastinate')}")
    return "Dispatch benchmark: " + ", ".join(parts)


async def main(arguments: argparse.Namespace) -> None:
    # The engine logs every aborted run as a warning; the memory phase aborts its held 20-step runs.
    logging.getLogger("nomaflow").setLevel(logging.ERROR)
    begun = time.perf_counter()
    benches, peer, pg_server = await measure(arguments)
    say(f"done in {time.perf_counter() - begun:.0f} s\n")
    header = environment(pg_server)
    if arguments.profile:
        header += "\n\n(--profile: cProfile slows the engine's runs only: compare no figures.)"
    print(report(benches, peer, header))
    if arguments.profile:
        for bench in benches:
            if bench.latency_phases:
                print(f"\n=== {bench.database}: trigger-to-first-step, stretch by stretch (medians) ===")
                for label, values in bench.latency_phases.items():
                    print(f"  {median(values):7.2f} ms  {label}")
            engine, baseline = bench.chain_profile, bench.baseline_profile
            if engine is not None and baseline is not None:
                steps = len(bench.engine_runs) * CHAIN_STEPS
                print(f"\n=== cProfile, {bench.database}, the {CHAIN_STEPS}-step job against its writes ===")
                print(extra_table(engine, baseline, steps))
                print(f"\nthe engine's runs, top functions by own time:\n{top_functions(engine)}")
            if bench.throughput_profile is not None:
                print(f"\n=== cProfile, {bench.database}, one-step runs, {CONCURRENT_JOBS} at once ===")
                print(area_table(bench.throughput_profile))
                print(top_functions(bench.throughput_profile))
            print(f"\n=== tracemalloc, {bench.database}, one-step runs in flight ===")
            print("\n".join(bench.memory_sites))


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a first look")
    parser.add_argument(
        "--databases", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite (default: both)"
    )
    parser.add_argument("--no-peer", action="store_true", help="leave procrastinate out")
    parser.add_argument(
        "--profile", action="store_true", help="add cProfile and tracemalloc breakdowns (slower figures)"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
