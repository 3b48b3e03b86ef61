"""Benchmark of the sql_copy step, PostgreSQL to PostgreSQL, against two baselines measured in the same run:

- the psql pipe:
  `psql -c "COPY src TO STDOUT (FORMAT binary)" | psql -c "COPY dst FROM STDIN (FORMAT binary)"`
- pandas: `read_sql(chunksize=50_000)` + `to_sql(method="multi")`

and the step's peak memory at two row counts, and MariaDB -> PostgreSQL rows/s.

    .venv/bin/pip install -e '.[bench]'      # pandas and psycopg, for the pandas baseline only
    .venv/bin/python benchmarks/sql_copy.py [--rows 1000000] [--big-rows 5000000] [--pandas-rows N]

Each measured copy runs in a fresh Python process, so its peak RSS is its own. Needs PostgreSQL
(NOMAFLOW_BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres), the psql binary, and for
the MariaDB figure NOMAFLOW_BENCH_MARIADB_URL (default mysql://root@127.0.0.1:3306/test). It creates its
own databases (nomaflow_bench_copy_<random>) and drops them at the end. It checks its targets
(benchmarks/targets.toml) and exits with 1 if one is missed; the pandas target is skipped when pandas
is not installed or --pandas-rows is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*`, run as a script

from benchmarks.copy_across import DIRECTIONS, run_across
from benchmarks.harness.databases import ThrowawayDatabases, mysql_arguments
from benchmarks.harness.report import Report, say
from benchmarks.harness.stats import ratio

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "(id bigint, name text, amount numeric(12,2), at timestamptz, flag boolean, doc jsonb)"
# Coerced targets. amount as double precision: the source query casts it, the COPY data still passes
# through. flag as text: a conversion done in Python, so the flag field of every row is decoded, converted
# and re-encoded, while the other fields pass through as bytes (a spliced copy).
COERCED_SCHEMA = SCHEMA.replace("amount numeric(12,2)", "amount double precision")
PYTHON_SCHEMA = SCHEMA.replace("flag boolean", "flag text")
FILL = (
    "INSERT INTO {table} SELECT g, 'customer ' || g || ' — Zoë', (g % 100000) / 100.0, "
    "timestamptz '2024-01-01' + g * interval '1 second', g % 2 = 0, "
    "jsonb_build_object('id', g, 'tags', jsonb_build_array('a', 'b'), 'ok', g % 3 = 0) "
    "FROM generate_series({start}, {end}) g"
)


@dataclass(frozen=True)
class CopyDatabases:
    """The URLs of this run's databases: the PostgreSQL source and target, and the MariaDB source."""

    source: str
    target: str
    maria: str | None


# --- set-up -------------------------------------------------------------------------------------------


async def prepare(databases: ThrowawayDatabases, rows: int, big_rows: int, maria_rows: int) -> CopyDatabases:
    import asyncpg

    urls = CopyDatabases(
        source=await databases.postgresql(),
        target=await databases.postgresql(),
        maria=await databases.mariadb() if maria_rows else None,
    )
    source = await asyncpg.connect(urls.source)
    await source.execute(f"CREATE TABLE src {SCHEMA}")
    await source.execute(FILL.format(table="src", start=1, end=rows))
    if big_rows:
        await source.execute(f"CREATE TABLE src_big {SCHEMA}")
        await source.execute(FILL.format(table="src_big", start=1, end=big_rows))
    await source.execute("ANALYZE")
    await source.close()
    target = await asyncpg.connect(urls.target)
    tables = (
        ("dst", SCHEMA),
        ("dst_coerced", COERCED_SCHEMA),
        ("dst_python", PYTHON_SCHEMA),
        ("dst_pandas", SCHEMA),
    )
    for table, schema in tables:
        await target.execute(f"CREATE TABLE {table} {schema}")
    await target.close()
    if urls.maria:
        await fill_mariadb(urls.maria, maria_rows)
    return urls


async def fill_mariadb(url: str, rows: int) -> None:
    import asyncmy

    # Connected to the database itself: seq_1_to_N (the sequence engine) needs a current one.
    maria = await asyncmy.connect(**mysql_arguments(url), db=make_url(url).database, autocommit=True)
    async with maria.cursor() as cursor:
        await cursor.execute(
            "CREATE TABLE src (id bigint, name text, amount decimal(12,2), at datetime(6), flag boolean, "
            "doc json)"
        )
        await cursor.execute(
            "INSERT INTO src SELECT seq, concat('customer ', seq, ' — Zoë'), "
            "(seq % 100000) / 100.0, timestamp'2024-01-01 00:00:00' + interval seq second, seq % 2 = 0, "
            "json_object('id', seq, 'tags', json_array('a', 'b'), 'ok', seq % 3 = 0) "
            f"FROM seq_1_to_{rows}"
        )
    maria.close()


async def truncate(url: str, table: str) -> None:
    import asyncpg

    target = await asyncpg.connect(url)
    await target.execute(f"TRUNCATE {table}")
    await target.execute("CHECKPOINT")  # every contender starts with the same clean buffers
    await target.close()


# --- contenders ----------------------------------------------------------------------------------------


def psql_pipe(urls: CopyDatabases) -> float:
    command = (
        f'psql -X -q -d "{urls.source}" -c "COPY src TO STDOUT (FORMAT binary)" | '
        f'psql -X -q -d "{urls.target}" -c "COPY dst FROM STDIN (FORMAT binary)"'
    )
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)
    return time.perf_counter() - started


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measured copy in a fresh interpreter; its JSON report."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"the measured copy {spec} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def rss_now() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


async def run_step(spec: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.harness.lone_step import lone_context
    from nomaflow.engine.steps.base import StepEnvironment
    from nomaflow.engine.steps.sql.copy import SqlCopy

    connectors = {"src": {"url": spec["source_url"]}, "dst": {"url": spec["target_url"]}}
    env = StepEnvironment(root=ROOT, settings={"connectors": connectors})
    step = SqlCopy(env)
    options = step.options(
        source="src",
        source_table=spec["source_table"],
        target="dst",
        table=spec["table"],
        mode="replace",
        batch_size=spec.get("batch_size", 10_000),
    )
    # Warm up: imports done, pools open, then measure from here.
    async with step.connectors.connect("src"), step.connectors.connect("dst"):
        pass
    baseline = rss_now()
    started, cpu_started = time.perf_counter(), time.process_time()
    output = await step.run(lone_context("copy"), options)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    await step.aclose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,  # this process only: the step's own work, without the servers'
        "rows": output["rows"],
        "passthrough": output["passthrough"],
        "baseline_rss": baseline,
        "peak_rss": peak,
    }


def run_pandas(spec: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from sqlalchemy import create_engine
    from sqlalchemy.dialects.postgresql import JSONB

    source = create_engine(make_url(spec["source_url"]).set(drivername="postgresql+psycopg"))
    target = create_engine(make_url(spec["target_url"]).set(drivername="postgresql+psycopg"))
    baseline = rss_now()
    started = time.perf_counter()
    rows = 0
    query = f"SELECT * FROM src ORDER BY id LIMIT {spec['rows']}"
    with source.connect() as reading:
        for chunk in pd.read_sql(query, reading, chunksize=50_000):
            # psycopg reads jsonb as dicts: to_sql needs the column's type to write them back. One
            # multi-row INSERT may bind at most 65,535 parameters: 10,000 rows of 6 columns per statement.
            chunk.to_sql(
                "dst_pandas",
                target,
                if_exists="append",
                index=False,
                method="multi",
                chunksize=10_000,
                dtype={"doc": JSONB()},
            )
            rows += len(chunk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "rows": rows, "baseline_rss": baseline, "peak_rss": peak}


# --- the run ---------------------------------------------------------------------------------------------


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000, help="for the memory figure (0: skip)")
    parser.add_argument("--pandas-rows", type=int, default=None, help="rows for pandas (default: --rows)")
    parser.add_argument("--maria-rows", type=int, default=None, help="MariaDB -> PostgreSQL rows (0: skip)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the timed copies")
    parser.add_argument(
        "--across-rows",
        type=int,
        default=None,
        help="rows for the cross-database copies (default: --rows; 0: skip)",
    )
    parser.add_argument(
        "--directions",
        default=",".join(d.name for d in DIRECTIONS),
        help="the cross-database directions to run, comma-separated",
    )
    parser.add_argument("--across-only", action="store_true", help="only the cross-database copies")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_child(encoded: str) -> int:
    """The child side of `child()`: one measured copy, its report as JSON on stdout."""
    spec = json.loads(encoded)
    result = run_pandas(spec) if spec["kind"] == "pandas" else asyncio.run(run_step(spec))
    print(json.dumps(result))
    return 0


def pandas_missing(pandas_rows: int) -> str | None:
    """Why the pandas baseline is not run, or None when it is."""
    if not pandas_rows:
        return "left out (--pandas-rows 0)"
    if find_spec("pandas") is None or find_spec("psycopg") is None:
        return "pandas is not installed (the bench extra: .venv/bin/pip install -e '.[dev,bench]')"
    return None


def main() -> int:
    args = parse_arguments()
    if args.child:
        return run_child(args.child)
    across_rows = args.rows if args.across_rows is None else args.across_rows  # 0: left out
    if args.across_only:
        report = Report("sql_copy", "sql_copy benchmark, across databases")
        run_across(report, across_rows, args.repeat, args.directions.split(","), child)
        return report.finish()
    rows, big = args.rows, args.big_rows
    pandas_rows = rows if args.pandas_rows is None else args.pandas_rows
    maria_rows = rows if args.maria_rows is None else args.maria_rows
    why_no_pandas = pandas_missing(pandas_rows)
    report = Report("sql_copy", "sql_copy benchmark")
    databases = ThrowawayDatabases("copy")
    say(f"preparing {rows:,} rows (and {big:,} for memory) ...")
    try:
        urls = asyncio.run(prepare(databases, rows, big, maria_rows))
        report.note(f"PostgreSQL {asyncio.run(databases.postgresql_version())}")
        where = {"source_url": urls.source, "target_url": urls.target}

        def step(table: str, source_table: str = "src") -> dict[str, Any]:
            asyncio.run(truncate(urls.target, table))
            return child({"kind": "step", "source_table": source_table, "table": table, **where})

        pipe, ours, coerced, python = [], [], [], []
        for _ in range(args.repeat):
            asyncio.run(truncate(urls.target, "dst"))
            pipe.append(psql_pipe(urls))
            ours.append(step("dst"))
            coerced.append(step("dst_coerced"))
            python.append(step("dst_python"))
        panda = child({"kind": "pandas", "rows": pandas_rows, **where}) if why_no_pandas is None else None
        memory = {}
        if big:
            for label, table in (("pass-through", "dst"), ("Python-coerced", "dst_python")):
                for size, source in ((rows, "src"), (big, "src_big")):
                    memory[(label, size)] = step(table, source)
        maria = None
        if urls.maria:
            asyncio.run(truncate(urls.target, "dst"))
            maria = child(
                {"kind": "step", "source_table": "src", "table": "dst", **where, "source_url": urls.maria}
            )
    finally:
        asyncio.run(databases.drop_all())

    best_pipe = min(pipe)
    best_ours = min(ours, key=lambda r: r["seconds"])
    best_coerced = min(coerced, key=lambda r: r["seconds"])
    best_python = min(python, key=lambda r: r["seconds"])
    assert best_ours["passthrough"] and best_coerced["passthrough"] and not best_python["passthrough"]

    report.section(
        f"PostgreSQL -> PostgreSQL, {rows:,} rows (bigint, text, numeric(12,2), timestamptz, boolean, "
        f'jsonb); each timed copy the best of {args.repeat}, every copy mode = "replace"'
    )
    report.figure("psql binary COPY pipe", f"{best_pipe:7.2f} s  {rate(rows, best_pipe):>15}")
    for label, best in (
        ("sql_copy, pass-through", best_ours),
        ("sql_copy, amount -> float8 (cast by the source)", best_coerced),
        ("sql_copy, flag -> text (converted in Python)", best_python),
    ):
        seconds = best["seconds"]
        shown = f"{seconds:7.2f} s  {rate(rows, seconds):>15}"
        report.figure(label, shown, times=ratio(seconds, best_pipe), against="the pipe's time")
    cpu = {
        label: min(r["cpu_seconds"] for r in runs) / rows * 1e6
        for label, runs in (("ours", ours), ("python", python))
    }
    report.figure(
        "the step's own CPU time a row",
        f"{cpu['ours']:.2f} µs pass-through, {cpu['python']:.2f} µs with flag converted in Python",
    )
    if panda:
        shown = f"{panda['seconds']:7.2f} s  {rate(panda['rows'], panda['seconds']):>15}"
        report.figure(
            "pandas read_sql + to_sql multi",
            f"{shown}  ({panda['rows']:,} rows; peak RSS {mib(panda['peak_rss'])})",
        )
    if memory:
        report.section("sql_copy memory (fresh process each; growth = peak RSS - RSS just before the copy)")
        for (label, size), result in memory.items():
            growth = result["peak_rss"] - result["baseline_rss"]
            report.figure(
                f"{label}, {size:,} rows",
                f"{result['seconds']:7.2f} s  peak {mib(result['peak_rss'])}  growth {mib(growth)}",
            )
    if maria:
        report.section("MariaDB -> PostgreSQL")
        report.figure(
            f"{maria['rows']:,} rows", f"{maria['seconds']:.2f} s, {rate(maria['rows'], maria['seconds'])}"
        )

    run_across(report, across_rows, args.repeat, args.directions.split(","), child)
    report.section("targets")
    report.check("passthrough", ratio(best_ours["seconds"], best_pipe))
    report.check("cast_by_source", ratio(best_coerced["seconds"], best_pipe))
    report.check("converted_in_python", ratio(best_python["seconds"], best_pipe))
    check_pandas(
        report, rows, {"pass-through": best_ours, "converted in Python": best_python}, panda, why_no_pandas
    )
    for (label, size), result in memory.items():
        report.check(
            "memory_growth", result["peak_rss"] - result["baseline_rss"], where=f"{label}, {size:,} rows"
        )
    return report.finish()


def check_pandas(
    report: Report,
    rows: int,
    bests: dict[str, dict[str, Any]],
    panda: dict[str, Any] | None,
    why_not: str | None,
) -> None:
    for label, best in bests.items():
        if panda is None:
            report.skip("against_pandas", why_not or "", where=label)
            continue
        ours_rate, pandas_rate = rows / best["seconds"], panda["rows"] / panda["seconds"]
        report.check("against_pandas", ratio(ours_rate, pandas_rate), where=label)


if __name__ == "__main__":
    sys.exit(main())
