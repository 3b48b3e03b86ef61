"""Benchmark of the sql_copy step, PostgreSQL to PostgreSQL, against two baselines measured in the same run:

- the psql pipe:
  `psql -c "COPY src TO STDOUT (FORMAT binary)" | psql -c "COPY dst FROM STDIN (FORMAT binary)"`
- pandas: `read_sql(chunksize=50_000)` + `to_sql(method="multi")`

and the step's peak memory at two row counts, and MariaDB -> PostgreSQL rows/s.

    .venv/bin/pip install -e '.[bench]'      # pandas and psycopg, for the pandas baseline only
    .venv/bin/python benchmarks/sql_copy.py [--rows 1000000] [--big-rows 5000000] [--pandas-rows N]

Each measured copy runs in a fresh Python process, so its peak RSS is its own. Needs PostgreSQL
(NOMAFLOW_BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test), the psql binary, and for the
MariaDB figure NOMAFLOW_BENCH_MARIADB_URL (default mysql://root@127.0.0.1:3306/test). It creates its own
databases (nomaflow_bench_*) and drops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

PG_URL = os.environ.get("NOMAFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIA_URL = os.environ.get("NOMAFLOW_BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
SOURCE_DB, TARGET_DB, MARIA_DB = "nomaflow_bench_src", "nomaflow_bench_dst", "nomaflow_bench"

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


def url_of(database: str, base: str = PG_URL) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


# --- set-up -------------------------------------------------------------------------------------------


async def prepare(rows: int, big_rows: int, maria_rows: int) -> None:
    import asyncmy
    import asyncpg

    admin = await asyncpg.connect(PG_URL)
    for name in (SOURCE_DB, TARGET_DB):
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    source = await asyncpg.connect(url_of(SOURCE_DB))
    await source.execute(f"CREATE TABLE src {SCHEMA}")
    await source.execute(FILL.format(table="src", start=1, end=rows))
    if big_rows:
        await source.execute(f"CREATE TABLE src_big {SCHEMA}")
        await source.execute(FILL.format(table="src_big", start=1, end=big_rows))
    await source.execute("ANALYZE")
    await source.close()
    target = await asyncpg.connect(url_of(TARGET_DB))
    tables = (
        ("dst", SCHEMA),
        ("dst_coerced", COERCED_SCHEMA),
        ("dst_python", PYTHON_SCHEMA),
        ("dst_pandas", SCHEMA),
    )
    for table, schema in tables:
        await target.execute(f"CREATE TABLE {table} {schema}")
    await target.close()
    if maria_rows:
        parsed = make_url(MARIA_URL)
        maria = await asyncmy.connect(
            host=parsed.host,
            port=parsed.port or 3306,
            user=parsed.username,
            password=parsed.password or "",
            autocommit=True,
        )
        async with maria.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{MARIA_DB}`")
            await cursor.execute(f"CREATE DATABASE `{MARIA_DB}` CHARACTER SET utf8mb4")
            await cursor.execute(f"USE `{MARIA_DB}`")  # seq_1_to_N (the sequence engine) needs one
            await cursor.execute(
                f"CREATE TABLE `{MARIA_DB}`.src (id bigint, name text, amount decimal(12,2), at datetime(6), "
                "flag boolean, doc json)"
            )
            await cursor.execute(
                f"INSERT INTO `{MARIA_DB}`.src SELECT seq, concat('customer ', seq, ' — Zoë'), "
                "(seq % 100000) / 100.0, timestamp'2024-01-01 00:00:00' + interval seq second, seq % 2 = 0, "
                "json_object('id', seq, 'tags', json_array('a', 'b'), 'ok', seq % 3 = 0) "
                f"FROM seq_1_to_{maria_rows}"
            )
        maria.close()


async def drop_all(maria: bool) -> None:
    import asyncmy
    import asyncpg

    admin = await asyncpg.connect(PG_URL)
    for name in (SOURCE_DB, TARGET_DB):
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
    if maria:
        parsed = make_url(MARIA_URL)
        connection = await asyncmy.connect(
            host=parsed.host, port=parsed.port or 3306, user=parsed.username, password=parsed.password or ""
        )
        async with connection.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{MARIA_DB}`")
        connection.close()


async def truncate(table: str) -> None:
    import asyncpg

    target = await asyncpg.connect(url_of(TARGET_DB))
    await target.execute(f"TRUNCATE {table}")
    await target.execute("CHECKPOINT")  # every contender starts with the same clean buffers
    await target.close()


# --- contenders ----------------------------------------------------------------------------------------


def psql_pipe() -> float:
    source, target = url_of(SOURCE_DB), url_of(TARGET_DB)
    command = (
        f'psql -X -q -d "{source}" -c "COPY src TO STDOUT (FORMAT binary)" | '
        f'psql -X -q -d "{target}" -c "COPY dst FROM STDIN (FORMAT binary)"'
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
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().memory_info().rss)


async def run_step(spec: dict[str, Any]) -> dict[str, Any]:
    from nomaflow.actors.ports import StepContext, StepLog
    from nomaflow.engine.steps.base import StepEnvironment
    from nomaflow.engine.steps.sql_copy import SqlCopy

    connectors = {"src": {"url": url_of(SOURCE_DB)}, "dst": {"url": url_of(TARGET_DB)}}
    if spec.get("source_url"):
        connectors["src"] = {"url": spec["source_url"]}
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
    ctx = StepContext(
        run_id="bench",
        job="bench",
        step="copy",
        attempt=1,
        params={},
        dry_run=False,
        outputs={},
        previous_output=None,
        log=StepLog(lambda level, message, fields: None),
        cancel_flag=threading.Event(),
        now=lambda: datetime.now(UTC),
    )
    # Warm up: imports done, pools open, then measure from here.
    async with step.connectors.connect("src"), step.connectors.connect("dst"):
        pass
    baseline = rss_now()
    started, cpu_started = time.perf_counter(), time.process_time()
    output = await step.run(ctx, options)
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
    import pandas as pd  # type: ignore[import-untyped]
    from sqlalchemy import create_engine
    from sqlalchemy.dialects.postgresql import JSONB

    source = create_engine(make_url(url_of(SOURCE_DB)).set(drivername="postgresql+psycopg"))
    target = create_engine(make_url(url_of(TARGET_DB)).set(drivername="postgresql+psycopg"))
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000, help="for the memory figure (0: skip)")
    parser.add_argument("--pandas-rows", type=int, default=None, help="rows for pandas (default: --rows)")
    parser.add_argument("--maria-rows", type=int, default=None, help="MariaDB -> PostgreSQL rows (0: skip)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the timed PostgreSQL copies")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        result = run_pandas(spec) if spec["kind"] == "pandas" else asyncio.run(run_step(spec))
        print(json.dumps(result))
        return
    rows, big = args.rows, args.big_rows
    pandas_rows = rows if args.pandas_rows is None else args.pandas_rows
    maria_rows = rows if args.maria_rows is None else args.maria_rows
    print(f"preparing {rows:,} rows (and {big:,} for memory) ...", flush=True)
    asyncio.run(prepare(rows, big, maria_rows))
    try:
        pipe, ours, coerced, python = [], [], [], []
        for _ in range(args.repeat):
            asyncio.run(truncate("dst"))
            pipe.append(psql_pipe())
            asyncio.run(truncate("dst"))
            ours.append(child({"kind": "step", "source_table": "src", "table": "dst"}))
            asyncio.run(truncate("dst_coerced"))
            coerced.append(child({"kind": "step", "source_table": "src", "table": "dst_coerced"}))
            asyncio.run(truncate("dst_python"))
            python.append(child({"kind": "step", "source_table": "src", "table": "dst_python"}))
        best_pipe = min(pipe)
        best_ours = min(ours, key=lambda r: r["seconds"])
        best_coerced = min(coerced, key=lambda r: r["seconds"])
        best_python = min(python, key=lambda r: r["seconds"])
        assert best_ours["passthrough"] and best_coerced["passthrough"] and not best_python["passthrough"]
        panda = child({"kind": "pandas", "rows": pandas_rows}) if pandas_rows else None
        memory = {}
        if big:
            for label, table in (("pass-through", "dst"), ("Python-coerced", "dst_python")):
                for size, source in ((rows, "src"), (big, "src_big")):
                    asyncio.run(truncate(table))
                    memory[(label, size)] = child({"kind": "step", "source_table": source, "table": table})
        maria = None
        if maria_rows:
            asyncio.run(truncate("dst"))
            maria = child(
                {
                    "kind": "step",
                    "source_table": "src",
                    "table": "dst",
                    "source_url": make_url(MARIA_URL)
                    .set(database=MARIA_DB)
                    .render_as_string(hide_password=False),
                }
            )
    finally:
        asyncio.run(drop_all(bool(maria_rows)))

    def rate(result_rows: int, seconds: float) -> str:
        return f"{result_rows / seconds:>10,.0f} rows/s"

    print()
    print(
        f"PostgreSQL -> PostgreSQL, {rows:,} rows (bigint, text, numeric(12,2), timestamptz, boolean, jsonb)"
    )
    print(f"  psql binary COPY pipe          {best_pipe:7.2f} s  {rate(rows, best_pipe)}")
    print(
        f"  sql_copy (pass-through)        {best_ours['seconds']:7.2f} s  {rate(rows, best_ours['seconds'])}"
        f"   {best_ours['seconds'] / best_pipe:.2f}x the pipe's time (target <= 1.25x)"
    )
    for label, best, how in (
        ("amount -> float8", best_coerced, "target <= 3x; cast by the source"),
        ("flag -> text    ", best_python, "target <= 3x; converted in Python"),
    ):
        print(
            f"  sql_copy, {label}     {best['seconds']:7.2f} s  {rate(rows, best['seconds'])}"
            f"   {best['seconds'] / best_pipe:.2f}x the pipe's time ({how})"
        )
    cpu = {
        label: min(r["cpu_seconds"] for r in runs) / rows * 1e6
        for label, runs in (("ours", ours), ("python", python))
    }
    print(
        f"  the step's own CPU time a row: {cpu['ours']:.2f} µs pass-through, "
        f"{cpu['python']:.2f} µs with flag converted in Python"
    )
    if panda:
        pandas_rate = panda["rows"] / panda["seconds"]
        ours_rate = rows / best_ours["seconds"]
        coerced_rate = rows / best_python["seconds"]
        print(
            f"  pandas read_sql+to_sql multi   {panda['seconds']:7.2f} s  "
            f"{rate(panda['rows'], panda['seconds'])}   "
            f"({panda['rows']:,} rows; peak RSS {mib(panda['peak_rss'])})"
        )
        print(
            f"  sql_copy vs pandas: {ours_rate / pandas_rate:,.0f}x faster (pass-through), "
            f"{coerced_rate / pandas_rate:,.0f}x (converted in Python) (target >= 20x)"
        )
    print(f'  (each timed copy is the best of {args.repeat}; every copy is mode = "replace")')
    if memory:
        print()
        print("sql_copy memory (fresh process each; growth = peak RSS - RSS just before the copy)")
        for (label, size), result in memory.items():
            growth = result["peak_rss"] - result["baseline_rss"]
            print(
                f"  {label:<15} {size:>10,} rows  {result['seconds']:7.2f} s  peak {mib(result['peak_rss'])}"
                f"  growth {mib(growth)}"
            )
    if maria:
        print()
        print(
            f"MariaDB -> PostgreSQL, {maria['rows']:,} rows: {maria['seconds']:.2f} s, "
            f"{rate(maria['rows'], maria['seconds']).strip()}"
        )


if __name__ == "__main__":
    main()
