"""The benchmarks' shared harness: the targets file every benchmark reads its targets from, and the
statistics and verdicts they print. A mistake here would otherwise show only at the end of a benchmark
that ran for minutes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from benchmarks.harness.stats import median, percentile, ratio, share
from benchmarks.harness.targets import TARGETS_FILE, Target, TargetsError, targets_of

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
REPORT = re.compile(r'Report\(\s*"(\w+)"')
VERDICT = re.compile(r'\.(?:check|skip)\(\s*"(\w+)"')


def benchmark_sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(BENCHMARKS.rglob("*.py")))


def test_every_benchmark_reads_its_table_and_every_target_is_checked() -> None:
    sources = benchmark_sources()
    benchmarks = set(REPORT.findall(sources))
    assert {"dispatch", "cron_jitter", "sql_copy", "ldap_sync", "api_load", "ui_runs_page"} <= benchmarks
    declared = {name for benchmark in benchmarks for name in targets_of(benchmark)}
    checked = set(VERDICT.findall(sources))
    assert checked <= declared, f"checked but not in targets.toml: {sorted(checked - declared)}"
    assert declared <= checked, f"in targets.toml but checked by no benchmark: {sorted(declared - checked)}"


def test_every_target_names_its_issue_and_doc_section() -> None:
    docs = (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\w+)$", docs, flags=re.MULTILINE))
    for benchmark in set(REPORT.findall(benchmark_sources())):
        for name, target in targets_of(benchmark).items():
            assert target.issue > 0, name
            assert target.doc.startswith("docs/benchmarks.md#"), name
            assert target.doc.split("#", 1)[1] in sections, f"{benchmark}.{name}: {target.doc}"


def test_a_broken_targets_file_names_the_file_and_the_target(tmp_path: Path) -> None:
    broken = tmp_path / "targets.toml"
    broken.write_text(
        TARGETS_FILE.read_text(encoding="utf-8").replace('comparison = "<="', 'comparison = "=<"', 1),
        encoding="utf-8",
    )
    first = next(iter(targets_of("dispatch")))
    with pytest.raises(TargetsError, match=rf"targets\.toml: \[dispatch\.{first}\]: .*comparison"):
        targets_of("dispatch", broken)
    with pytest.raises(TargetsError, match="no table for the benchmark 'nightly'"):
        targets_of("nightly")


def test_figures_meet_targets_in_the_targets_unit() -> None:
    memory = Target(figure="memory", comparison="<=", bound=64, unit="KiB", issue=2, doc="d")
    assert memory.met(64 * 1024) and not memory.met(64 * 1024 + 1)
    latency = Target(figure="p99", comparison="<", bound=100, unit="ms", issue=6, doc="d")
    assert latency.met(0.0999) and not latency.met(0.1)
    share_of_core = Target(figure="idle", comparison="<", bound=2, unit="%", issue=3, doc="d")
    assert share_of_core.met(0.0199) and not share_of_core.met(0.02)
    faster = Target(figure="rows/s", comparison=">=", bound=20, unit="x", issue=4, doc="d")
    assert faster.met(20) and not faster.met(19.99)
    assert not faster.met(math.nan), "a figure that was not measured meets no target"
    assert memory.wanted == "<= 64 KiB" and faster.wanted == ">= 20x" and share_of_core.wanted == "< 2%"


def test_percentiles_are_nearest_rank_and_never_made_up() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 0) == 1 and percentile([5.0], 99) == 5
    assert math.isnan(percentile([], 50)) and math.isnan(median([]))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)
    assert median([1.0, 3.0, 2.0, 10.0]) == 2.5
    assert ratio(3, 2) == 1.5 and math.isnan(ratio(1, 0)) and math.isnan(ratio(1, math.nan))
    assert share(10, 3) == [4, 3, 3] and sum(share(2500, 5)) == 2500
