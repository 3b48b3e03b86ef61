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
a no-op task (jobs deferred first, then a worker drains them); then it checks its targets
(benchmarks/targets.toml) and exits with 1 if one is missed. procrastinate comes with the `bench` extra:
without it, or with --no-peer, the peer's figures and the targets against them are skipped, and the
report says so.

The contenders take turns block by block within each phase (engine on PostgreSQL, engine on SQLite,
procrastinate, and the engine against its write baseline), so a machine that gets busier or quieter
during the run shifts them alike and the ratios stay fair. Within a pair of the per-step figure, the
engine's run and its baseline's replay take turns going first, so neither always starts cold after the
other database's work.

PostgreSQL comes from NOMAFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres); the
benchmark creates its own database (nomaflow_bench_dispatch_<random>) and drops it at the end. SQLite
is a file in a temporary folder. `--profile` adds cProfile's top functions for the engine's per-step
and throughput phases and tracemalloc's top allocation sites for the in-flight runs.

The parts are in benchmarks/dispatching/; statistics, targets, the report and the databases come from
benchmarks/harness/.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*`, run as a script

from benchmarks.dispatching.engine_bench import CHAIN_STEPS, QUICK, EngineBench, Sizes, open_engine
from benchmarks.dispatching.figures import check_targets, print_figures, print_profiles
from benchmarks.dispatching.peer_bench import PeerBench, open_peer, peer_version, why_no_peer
from benchmarks.harness.databases import ThrowawayDatabases
from benchmarks.harness.report import Report, phase, say
from benchmarks.harness.stats import share


class Contenders:
    """The engines (one per database) and the peer, made for one run; closed with its stack."""

    def __init__(self) -> None:
        self.benches: list[EngineBench] = []
        self.peer: PeerBench | None = None
        self.notes = [f"SQLite {sqlite3.sqlite_version}"]

    @property
    def names(self) -> str:
        return ", ".join(
            [bench.database for bench in self.benches] + (["procrastinate"] if self.peer else [])
        )


async def open_contenders(
    stack: AsyncExitStack, arguments: argparse.Namespace, sizes: Sizes, why_not_peer: str | None
) -> Contenders:
    wanted = {name.strip().lower() for name in arguments.databases.split(",") if name.strip()}
    contenders = Contenders()
    if "postgresql" in wanted:
        databases = await stack.enter_async_context(ThrowawayDatabases("dispatch"))
        url = await databases.postgresql()
        contenders.notes.append(f"PostgreSQL {await databases.postgresql_version()}")
        engine = await open_engine(stack, url)
        contenders.benches.append(EngineBench("PostgreSQL", engine, sizes, profile=arguments.profile))
        if why_not_peer is None:
            contenders.peer = await open_peer(stack, url)
            contenders.notes.append(peer_version())
    if "sqlite" in wanted:
        engine = await open_engine(stack, "sqlite:///{folder}/bench.db")
        contenders.benches.append(EngineBench("SQLite", engine, sizes, profile=arguments.profile))
    return contenders


async def measure(contenders: Contenders, sizes: Sizes, profile: bool) -> None:
    """The four phases, the contenders taking turns block by block within each."""
    benches, peer, names = contenders.benches, contenders.peer, contenders.names
    for bench in benches:
        await bench.warm_up()

    with phase(f"latency: {sizes.latency_runs} sequential runs each, in blocks of 10 taking turns: {names}"):
        async with AsyncExitStack() as listening:
            if peer:
                await listening.enter_async_context(peer.listening())
            for runs in share(sizes.latency_runs, max(1, sizes.latency_runs // 10)):
                for bench in benches:
                    await bench.latency(runs)
                if peer:
                    await peer.latency(runs)

    with phase(
        f"per step: {sizes.chain_runs} runs of the {CHAIN_STEPS}-step job, each with a replay of its writes"
    ):
        for index in range(sizes.chain_runs):
            for bench in benches:
                await bench.chain(engine_first=index % 2 == 0)

    blocks = sizes.throughput_blocks
    with phase(
        f"throughput: {sizes.throughput_runs} one-step runs each, {blocks} blocks taking turns: {names}"
    ):
        for runs in share(sizes.throughput_runs, blocks):
            for bench in benches:
                await bench.throughput(runs)
            if peer:
                await peer.throughput(runs)

    in_flight = (
        f"{sizes.in_flight} one-step runs in flight, then {sizes.chain_in_flight} {CHAIN_STEPS}-step runs"
    )
    with phase(f"memory: {in_flight}, under tracemalloc"):
        for bench in benches:
            await bench.memory(profile)


async def main(arguments: argparse.Namespace) -> int:
    # The engine logs every aborted run as a warning; the memory phase aborts its held 20-step runs.
    logging.getLogger("nomaflow").setLevel(logging.ERROR)
    sizes = QUICK if arguments.quick else Sizes()
    postgresql = "postgresql" in arguments.databases.lower()
    why_not_peer = why_no_peer(left_out=arguments.no_peer, postgresql=postgresql)
    report = Report("dispatch", "Dispatch benchmark" + (" (--quick)" if arguments.quick else ""))
    if why_not_peer:
        say(f"procrastinate skipped: {why_not_peer}")
    begun = time.perf_counter()
    async with AsyncExitStack() as stack:
        contenders = await open_contenders(stack, arguments, sizes, why_not_peer)
        await measure(contenders, sizes, arguments.profile)
    say(f"done in {time.perf_counter() - begun:.0f} s\n")
    report.note(", ".join(contenders.notes))
    if arguments.profile:
        report.note("(--profile: cProfile slows the engine's runs only: compare no figures.)")
    print_figures(report, contenders.benches, contenders.peer)
    check_targets(report, contenders.benches, contenders.peer, why_not_peer)
    if arguments.profile:
        print_profiles(contenders.benches)
    return report.finish()


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
    sys.exit(asyncio.run(main(parse_arguments())))
