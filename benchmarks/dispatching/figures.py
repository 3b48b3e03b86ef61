"""The dispatch benchmark's report: its figures as markdown tables (the shape docs/benchmarks.md
records them in), then the verdict on each target, and with --profile the breakdowns."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.dispatching.engine_bench import CHAIN_STEPS, CONCURRENT_JOBS, EngineBench
from benchmarks.dispatching.peer_bench import CONCURRENCY, PeerBench
from benchmarks.dispatching.profiling import KIB, area_table, extra_table, top_functions
from benchmarks.harness.report import Report
from benchmarks.harness.stats import median, percentile, ratio


def print_figures(report: Report, benches: list[EngineBench], peer: PeerBench | None) -> None:
    names = [bench.database for bench in benches]
    lines = ["", "| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, cell: Callable[[EngineBench], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(bench) for bench in benches) + " |")

    def cpu_cell(bench: EngineBench) -> str:
        engine, baseline = bench.engine_cpu_step_us, bench.baseline_cpu_step_us
        return f"{engine:.0f} / {baseline:.0f} µs = {ratio(engine, baseline):.2f}x"

    row("trigger-to-first-step p50", lambda b: f"{percentile(b.latency_ms, 50):.2f} ms")
    row("trigger-to-first-step p99", lambda b: f"{percentile(b.latency_ms, 99):.2f} ms")
    row(f"per step, engine ({CHAIN_STEPS}-step no-op job, median)", lambda b: f"{b.engine_step_us:.0f} µs")
    row("per step, write baseline (same store calls, no actors)", lambda b: f"{b.baseline_step_us:.0f} µs")
    row(
        "per-step ratio, engine / baseline (wall)",
        lambda b: f"{ratio(b.engine_step_us, b.baseline_step_us):.2f}x",
    )
    row("process CPU per step, engine / baseline", cpu_cell)
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
            f"| worker jobs/s (concurrency {CONCURRENCY}, median block) | {peer.jobs_per_s:.0f} |",
        ]
    report.note("\n".join(lines))


def check_targets(
    report: Report, benches: list[EngineBench], peer: PeerBench | None, why_no_peer: str | None
) -> None:
    report.section("targets")
    for bench in benches:
        step = ratio(bench.engine_step_us, bench.baseline_step_us)
        detail = f"{bench.engine_step_us:.0f} against {bench.baseline_step_us:.0f} µs a step"
        report.check("step_ratio", step, where=bench.database, detail=detail)
    for bench in benches:
        p50 = percentile(bench.latency_ms, 50)
        if peer is None:
            report.skip("latency_share", why_no_peer or "", where=bench.database)
            continue
        peer_p50 = percentile(peer.latency_ms, 50)
        detail = f"{p50:.2f} against {peer_p50:.2f} ms"
        report.check("latency_share", ratio(p50, peer_p50), where=bench.database, detail=detail)
    for bench in benches:
        if peer is None:
            report.skip("throughput_ratio", why_no_peer or "", where=bench.database)
            continue
        detail = f"{bench.runs_per_s:.0f} against {peer.jobs_per_s:.0f} a second"
        report.check(
            "throughput_ratio", ratio(bench.runs_per_s, peer.jobs_per_s), where=bench.database, detail=detail
        )
    for bench in benches:
        report.check("memory_per_run", bench.bytes_per_run, where=bench.database)
    if peer is not None and any(bench.database != "PostgreSQL" for bench in benches):
        report.note(
            "  (procrastinate runs on PostgreSQL only; the SQLite engine is held to the same figures.)"
        )


def print_profiles(benches: list[EngineBench]) -> None:
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
