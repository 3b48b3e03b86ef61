"""The cross-database part of benchmarks/sql_copy.py (issue 16): sql_copy between MariaDB, SQLite and
PostgreSQL, each direction against the command-line pipe a data engineer would reach for, measured in the
same run on the same table:

| direction | the pipe |
| --- | --- |
| MariaDB -> PostgreSQL | `mariadb --quick --batch --raw` into `psql COPY ... FROM STDIN (NULL 'NULL')` |
| PostgreSQL -> MariaDB | `psql COPY ... TO STDOUT` into `LOAD DATA LOCAL INFILE '/dev/stdin'` (t/f: 1/0) |
| SQLite -> PostgreSQL | `sqlite3 -csv` into `psql COPY ... (FORMAT csv)` |
| PostgreSQL -> SQLite | `psql COPY (... flag::int ...) TO STDOUT (FORMAT csv)` into `sqlite3 .import --csv` |

The table: bigint, text, numeric(12,2), timestamp, boolean and JSON, in each database's spelling. Each
sql_copy runs `mode = "replace"` into an existing table (a staging table swapped in), in a fresh process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks.harness.databases import ThrowawayDatabases, mysql_arguments

COLUMNS = "id, name, amount, at, flag, doc"
PG_SCHEMA = "(id bigint, name text, amount numeric(12,2), at timestamp, flag boolean, doc jsonb)"
MARIA_SCHEMA = "(id bigint, name text, amount decimal(12,2), at datetime(6), flag boolean, doc json)"
SQLITE_SCHEMA = "(id BIGINT, name TEXT, amount DECIMAL_TEXT(12,2), at TIMESTAMP, flag BOOLEAN, doc JSON)"
PG_FILL = (
    "INSERT INTO src SELECT g, 'customer ' || g || ' — Zoë', (g % 100000) / 100.0, "
    "timestamp '2024-01-01' + g * interval '1 second', g % 2 = 0, "
    "jsonb_build_object('id', g, 'tags', jsonb_build_array('a', 'b'), 'ok', g % 3 = 0) "
    "FROM generate_series(1, {rows}) g"
)
MARIA_FILL = (
    "INSERT INTO src SELECT seq, concat('customer ', seq, ' — Zoë'), (seq % 100000) / 100.0, "
    "timestamp'2024-01-01 00:00:00' + interval seq second, seq % 2 = 0, "
    "json_object('id', seq, 'tags', json_array('a', 'b'), 'ok', seq % 3 = 0) FROM seq_1_to_{rows}"
)


@dataclass(frozen=True)
class Across:
    """This run's databases: a PostgreSQL, a MariaDB and a SQLite file, each with `src` filled and the
    targets `dst` (the same types) and `dst_python` (flag as text: converted in Python)."""

    pg: str
    maria: str
    sqlite: str  # the file's path

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.sqlite}"


async def prepare(databases: ThrowawayDatabases, folder: Path, rows: int, names: list[str]) -> Across:
    """The databases the directions `names` use, each source filled with `rows` rows."""
    import asyncpg

    maria_used = any(name.startswith("maria") or name.endswith("maria") for name in names)
    sqlite_used = any("sqlite" in name for name in names)
    across = Across(
        await databases.postgresql(),
        await databases.mariadb() if maria_used else "",
        str(folder / "across.db"),
    )
    pg = await asyncpg.connect(across.pg)
    for table, schema in (("src", PG_SCHEMA), ("dst", PG_SCHEMA), ("dst_python", _python(PG_SCHEMA))):
        await pg.execute(f"CREATE TABLE {table} {schema}")
    await pg.execute(PG_FILL.format(rows=rows))
    await pg.execute("ANALYZE")
    await pg.close()
    if maria_used:
        await _fill_maria(across.maria, rows)
    if sqlite_used:
        _fill_sqlite(across)
    return across


async def _fill_maria(url: str, rows: int) -> None:
    import asyncmy

    maria = await asyncmy.connect(**mysql_arguments(url), db=make_url(url).database, autocommit=True)
    async with maria.cursor() as cursor:
        for table, schema in (
            ("src", MARIA_SCHEMA),
            ("dst", MARIA_SCHEMA),
            ("dst_python", _python(MARIA_SCHEMA)),
        ):
            await cursor.execute(f"CREATE TABLE {table} {schema}")
        await cursor.execute(MARIA_FILL.format(rows=rows))
    maria.close()


def _fill_sqlite(across: Across) -> None:
    with sqlite3.connect(across.sqlite) as lite:
        for table, schema in (
            ("src", SQLITE_SCHEMA),
            ("dst", SQLITE_SCHEMA),
            ("dst_python", _python(SQLITE_SCHEMA)),
        ):
            lite.execute(f"CREATE TABLE {table} {schema}")
    # SQLite's source rows: the PostgreSQL ones, through the csv pipe (the quickest way in).
    _shell(
        f'psql -X -q -d "{across.pg}" -c "COPY (SELECT id, name, amount, at, flag::int, doc FROM src) '
        f'TO STDOUT (FORMAT csv)" | sqlite3 {across.sqlite} ".import --csv /dev/stdin src"'
    )


def _python(schema: str) -> str:
    for boolean in ("flag boolean", "flag BOOLEAN"):
        schema = schema.replace(boolean, "flag text")
    return schema


def _shell(command: str) -> float:
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, capture_output=True)
    return time.perf_counter() - started


def _maria_cli(url: str) -> str:
    args = mysql_arguments(url)
    password = f" -p{args['password']}" if args["password"] else ""
    return f"mariadb -h {args['host']} -P {args['port']} -u {args['user']}{password} {make_url(url).database}"


# --- the pipes ------------------------------------------------------------------------------------------


def pipe_maria_to_pg(across: Across) -> float:
    return _shell(
        f'{_maria_cli(across.maria)} --quick --batch --raw -N -e "SELECT {COLUMNS} FROM src" | '
        f'psql -X -q -d "{across.pg}" -c "COPY dst FROM STDIN (NULL \'NULL\')"'
    )


def pipe_pg_to_maria(across: Across) -> float:
    return _shell(
        f'psql -X -q -d "{across.pg}" -c "COPY src TO STDOUT" | '
        f"{_maria_cli(across.maria)} --local-infile=1 -e "
        "\"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE dst "
        "(id, name, amount, at, @flag, doc) SET flag = (@flag = 't')\""
    )


def pipe_sqlite_to_pg(across: Across) -> float:
    return _shell(
        f'sqlite3 -csv {across.sqlite} "SELECT {COLUMNS} FROM src" | '
        f'psql -X -q -d "{across.pg}" -c "COPY dst FROM STDIN (FORMAT csv)"'
    )


def pipe_pg_to_sqlite(across: Across) -> float:
    return _shell(
        f'psql -X -q -d "{across.pg}" -c "COPY (SELECT id, name, amount, at, flag::int, doc FROM src) '
        f'TO STDOUT (FORMAT csv)" | sqlite3 {across.sqlite} ".import --csv /dev/stdin dst"'
    )


# --- emptying a target between contenders ----------------------------------------------------------------


def empty_pg(across: Across) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(across.pg)
        await connection.execute("TRUNCATE dst, dst_python")
        await connection.execute("CHECKPOINT")
        await connection.close()

    asyncio.run(run())


def empty_maria(across: Across) -> None:
    import asyncmy

    async def run() -> None:
        maria = await asyncmy.connect(**mysql_arguments(across.maria), db=make_url(across.maria).database)
        async with maria.cursor() as cursor:
            await cursor.execute("TRUNCATE dst")
            await cursor.execute("TRUNCATE dst_python")
        maria.close()

    asyncio.run(run())


def empty_sqlite(across: Across) -> None:
    with sqlite3.connect(across.sqlite) as lite:
        lite.execute("DELETE FROM dst")
        lite.execute("DELETE FROM dst_python")
    with sqlite3.connect(across.sqlite) as lite:
        lite.execute("VACUUM")


@dataclass(frozen=True)
class Direction:
    name: str  # as in benchmarks/targets.toml: maria_to_pg ...
    label: str
    pipe: Callable[[Across], float]
    empty: Callable[[Across], None]
    source: Callable[[Across], str]
    target: Callable[[Across], str]


DIRECTIONS = (
    Direction(
        "maria_to_pg", "MariaDB -> PostgreSQL", pipe_maria_to_pg, empty_pg, lambda a: a.maria, lambda a: a.pg
    ),
    Direction(
        "pg_to_maria",
        "PostgreSQL -> MariaDB",
        pipe_pg_to_maria,
        empty_maria,
        lambda a: a.pg,
        lambda a: a.maria,
    ),
    Direction(
        "sqlite_to_pg",
        "SQLite -> PostgreSQL",
        pipe_sqlite_to_pg,
        empty_pg,
        lambda a: a.sqlite_url,
        lambda a: a.pg,
    ),
    Direction(
        "pg_to_sqlite",
        "PostgreSQL -> SQLite",
        pipe_pg_to_sqlite,
        empty_sqlite,
        lambda a: a.pg,
        lambda a: a.sqlite_url,
    ),
)


def measure(
    direction: Direction, across: Across, repeat: int, child: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """The best of `repeat` of the pipe, sql_copy with the same types, and sql_copy with flag converted."""
    where = {
        "source_url": direction.source(across),
        "target_url": direction.target(across),
        "source_table": "src",
    }
    pipes, same, python = [], [], []
    for _ in range(repeat):
        direction.empty(across)
        pipes.append(direction.pipe(across))
        direction.empty(across)
        same.append(child({"kind": "step", "table": "dst", **where}))
        python.append(child({"kind": "step", "table": "dst_python", **where}))
    return {
        "pipe": min(pipes),
        "same": min(same, key=lambda r: r["seconds"]),
        "python": min(python, key=lambda r: r["seconds"]),
        "pipes": pipes,
        "sames": [r["seconds"] for r in same],
        "pythons": [r["seconds"] for r in python],
    }


def run_across(
    report: Any, rows: int, repeat: int, names: list[str], child: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Prepare, measure each direction named in `names`, and report it with its targets."""
    if not rows:
        return
    import tempfile

    from benchmarks.harness.report import say
    from benchmarks.harness.stats import ratio

    chosen = [d for d in DIRECTIONS if d.name in names]
    with tempfile.TemporaryDirectory(prefix="nomaflow_bench_across_") as folder:
        databases = ThrowawayDatabases("across", Path(folder))
        say(f"preparing {rows:,} rows in PostgreSQL, MariaDB and SQLite ...")
        try:
            across = asyncio.run(prepare(databases, Path(folder), rows, names))
            results = {d.name: measure(d, across, repeat, child) for d in chosen}
        finally:
            asyncio.run(databases.drop_all())
    for direction in chosen:
        result = results[direction.name]
        report.section(
            f"{direction.label}, {rows:,} rows (bigint, text, numeric(12,2), timestamp, boolean, JSON); "
            f"best of {repeat}"
        )
        pipe = result["pipe"]
        report.figure(
            "the pipe", f"{pipe:7.2f} s  {rows / pipe:>12,.0f} rows/s  (all: {_all(result['pipes'])})"
        )
        for label, key, runs in (
            ("sql_copy, the same types", "same", "sames"),
            ("sql_copy, flag -> text (converted in Python)", "python", "pythons"),
        ):
            best = result[key]
            growth = (best["peak_rss"] - best["baseline_rss"]) / 2**20
            report.figure(
                label,
                f"{best['seconds']:7.2f} s  {rows / best['seconds']:>12,.0f} rows/s  "
                f"(all: {_all(result[runs])}); "
                f"CPU {best['cpu_seconds'] / rows * 1e6:.2f} µs a row; memory growth {growth:,.0f} MiB",
                times=ratio(best["seconds"], pipe),
                against="the pipe's time",
            )
    report.section("targets across databases")
    for direction in chosen:
        result = results[direction.name]
        report.check(
            "across_same_types", ratio(result["same"]["seconds"], result["pipe"]), where=direction.label
        )
        report.check(
            "across_converted", ratio(result["python"]["seconds"], result["pipe"]), where=direction.label
        )
        report.check(
            "across_memory_growth",
            result["python"]["peak_rss"] - result["python"]["baseline_rss"],
            where=direction.label,
        )
        if direction.name == "maria_to_pg":
            rate = rows / result["same"]["seconds"]
            report.check("maria_to_pg_speed_up", rate / 70_700, where="against 70.7k rows/s (2026-11-29)")


def _all(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)
