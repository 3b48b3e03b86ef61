"""The engine's side of the dispatch benchmark: one engine on one database, the runs each phase makes
and the figures they give (trigger-to-first-step latency, per-step time against the write baseline,
throughput, memory per in-flight run)."""

from __future__ import annotations

import cProfile
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from contextlib import AsyncExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from benchmarks.dispatching.profiling import memory_sites
from benchmarks.dispatching.store_calls import (
    CallTime,
    StoreCall,
    captured_writes,
    describe_writes,
    fresh_copy,
    replay,
)
from benchmarks.harness.stats import median
from nomaflow.engine import Engine, RunHandle
from nomaflow.engine.config import load_install

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
# The install's plugin folder, put on sys.path as the engine puts it when it loads the install, so that
# the steps the engine runs and this module share the one `benchjobs.steps` and its probe.
sys.path.insert(0, str(PLUGINS))

from benchjobs.steps import probe  # noqa: E402

CHAIN_STEPS = 20
CONCURRENT_JOBS = 50
TRIGGER_LANES = 50  # callers triggering the in-flight runs side by side
WARM_UP = 20


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


def python_step(name: str, function: str) -> dict[str, Any]:
    return {"name": name, "type": "python", "callable": f"benchjobs.steps:{function}"}


async def open_engine(stack: AsyncExitStack, database_url: str) -> Engine:
    """A started engine on `database_url` (`{folder}` in it is its install's folder), without a
    scheduler, with the benchmark's steps as its plugins; stopped when `stack` closes."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nomaflow-bench-")))
    url = database_url.format(folder=folder)
    (folder / "app.toml").write_text(
        f'[connectors.default]\nurl = "{url}"\n\n[jobs]\nplugins = "{PLUGINS}"\nscheduler_enabled = false\n'
    )
    engine = Engine(load_install(folder / "app.toml"), scheduler=False)
    return await stack.enter_async_context(engine)


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
        self.bytes_per_run = float("nan")  # traced, per in-flight one-step run
        self.chain_bytes_per_run = float("nan")  # traced, per in-flight 20-step run
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
    def engine_cpu_step_us(self) -> float:
        return self._median_step_us(self.engine_runs, 1)

    @property
    def baseline_cpu_step_us(self) -> float:
        return self._median_step_us(self.baseline_runs, 1)

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
        await replay(self.engine.store, fresh_copy(calls))
        await self.throughput(CONCURRENT_JOBS, timed=False)

    async def latency(self, runs: int) -> None:
        for _ in range(runs):
            probe.reset()
            times: list[CallTime] = []
            timing = self.latency_phases is not None
            with captured_writes(self.engine.store, times) if timing else nullcontext():
                before = time.perf_counter()
                run = await self.engine.trigger("latency")
                outcome = await run.wait()
            assert outcome.status == "succeeded", outcome
            started = probe.starts[0]
            self.latency_ms.append((started - before) * 1000)
            if self.latency_phases is not None:
                self._note_phases(self.latency_phases, before, started, times)

    @staticmethod
    def _note_phases(
        phases: dict[str, list[float]], before: float, started: float, times: list[CallTime]
    ) -> None:
        """Split one trigger-to-first-step into its stretches, by the store call in between."""
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
            phases.setdefault(label, []).append(seconds * 1000)

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
        await replay(self.engine.store, calls)
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
