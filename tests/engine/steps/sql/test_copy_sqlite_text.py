"""sql_copy from PostgreSQL into SQLite as COPY text (copy_sqlite_text): the same stored values, of the
same storage classes (typeof), as the way of Python values, for every type it carries at its extremes,
with NULLs, unicode, bytea of every byte and every character COPY text escapes; a column converted in
Python; the three modes; a value that does not convert names its row and column and leaves the target as
it was.

(A timestamptz of -infinity fails both ways: asyncpg gives it as a naive datetime.min, which has no UTC.)

Each value test copies the same source twice, once as text and once with that path turned off, and
compares the two tables value by value with typeof(): the Python path is the reference the round-trip
tests hold to the originals.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest

import nomaflow.engine.steps.sql.copy_plan as copy_plan
from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.engine.steps.sql.copy_plan import Planner
from nomaflow.engine.steps.sql.copy_sqlite_text import (
    TextColumn,
    TextRows,
    _microseconds,
    _microseconds_utc,
    _time_of_day,
    read_numeric,
    rows_per_insert,
    sqlite_affinity,
)
from nomaflow.engine.steps.sql.dialects import Postgres
from nomaflow.engine.steps.sql.names import Column, TableName
from nomaflow.engine.steps.sql.types import parse_postgres, parse_sqlite
from tests.engine.steps.conftest import Logged, PgPair, SqlInstall
from tests.engine.steps.sql.test_copy_roundtrip import pg_execute, unique

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

# Every character COPY text escapes or may misread: backslash, tab, newline, CR, backspace, form feed,
# vertical tab, and \N spelled out as text.
AWKWARD = r"(E'a\\b\tc\nd\re\bf\fg' || chr(11) || E'h \\N \\t end Zoë 😀 日本語')"

PG_SOURCE = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, small smallint, big bigint, amount numeric(12,2), wide numeric(30,10),
  num numeric, whole numeric(12,0), ratio double precision, r real, label varchar(40), fixed char(5),
  body text, doc jsonb, js json, day date, moment time, at timestamp, at_tz timestamptz, flag boolean,
  data bytea, ident uuid
);
INSERT INTO {name} VALUES
 (1, -32768, -9223372036854775808, -9999999999.99, -99999999999999999999.9999999999, 0.0000001, 0,
  -1.7976931348623157e308, -3.4028235e38, '', '', '', '{{}}', '[]', '0001-01-01', '00:00:00',
  '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', false, '', '00000000-0000-0000-0000-000000000000'),
 (2, 32767, 9223372036854775807, 9999999999.99, 99999999999999999999.9999999999, 1e20, 1230000,
  2.2250738585072014e-308, 1.17549435e-38, repeat('é', 40), 'ab', {awkward},
  '{{"s": "tab\\there \\\\ \\"q\\"", "u": "é😀"}}', '{{"a" : [1, 2.50] }}', '9999-12-31',
  '23:59:59.999999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999+00', true,
  (SELECT string_agg(set_byte('\\x00'::bytea, 0, b), ''::bytea) FROM generate_series(0, 255) b),
  'ffffffff-ffff-ffff-ffff-ffffffffffff'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL),
 (4, 0, 0, 0, 0, 'NaN', -100000000, 'Infinity', '-Infinity', '\\N', '\\N', '\\N', '"\\\\N"', 'null',
  'infinity', '12:00:00.5', '-infinity', 'infinity', NULL, '\\x5c4e', NULL),
 (5, NULL, NULL, NULL, 0.0000000000, 'Infinity', NULL, 'NaN', 'NaN', NULL, NULL, NULL, NULL, NULL,
  '-infinity', NULL, 'infinity', NULL, NULL, NULL, NULL);
INSERT INTO {name} (id, body) VALUES (6, E'one \\\\ only'), (7, E'one \\t only'), (8, E'one \\n only'),
  (9, E'one \\r only');
INSERT INTO {name} SELECT g, g % 1000, g::bigint * 1000003, g / 100.0, g / 3.0, g / 1e9, g * 10000,
  g / 7.0, g / 9.0, 'row ' || g, left(g::text, 5), repeat({awkward}, 4) || g, jsonb_build_object('g', g,
  't', E'x\\ty'), json_build_array(g, g / 4.0), date '2024-01-01' + g,
  time '00:00' + g * interval '1.25 second' + (g % 3) * interval '1 microsecond',
  timestamp '2024-01-01' + g * interval '1.5 second' + (g % 3) * interval '1 microsecond',
  timestamptz '2024-01-01 00:00+02' + g * interval '1 hour 0.123457 second', g % 2 = 0, int4send(g),
  md5(g::text)::uuid
FROM generate_series(10, 2009) g
"""
ROWS = 2009 - 10 + 1 + 9


def text_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every copy from PostgreSQL into SQLite after this takes the way of Python values."""
    monkeypatch.setattr(copy_plan, "text_columns", lambda plan: None)


def sqlite_typed(path: Path, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    """Every row of `table`, each value beside its typeof()."""
    with sqlite3.connect(path) as connection:
        names = [r[1] for r in connection.execute(f"PRAGMA table_info({table})")]
        fields = ", ".join(f'"{n}", typeof("{n}")' for n in names)
        return connection.execute(f"SELECT {fields} FROM {table} ORDER BY {order}").fetchall()


async def copy_both(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, path: Path, **options: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Logged]:
    """The same copy as text into `text`, then the Python way into `python`: both tables' rows."""
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{path}")
    log = Logged()
    out = await sql_install.run("sql_copy", source="src", target="lite", table="text", log=log, **options)
    text_rows = out["rows"]
    with monkeypatch.context() as patch:
        text_off(patch)
        python = Logged()
        out = await sql_install.run(
            "sql_copy", source="src", target="lite", table="python", log=python, **options
        )
    assert out["rows"] == text_rows
    assert "leave PostgreSQL as text" in log.text and "leave PostgreSQL as text" not in python.text
    return sqlite_typed(path, "text"), sqlite_typed(path, "python"), log


@pytest.fixture
async def pg_source(pg_pair: PgPair) -> str:
    name = unique("typed")
    await pg_execute(pg_pair.source, PG_SOURCE.format(name=name, awkward=AWKWARD))
    return name


async def test_postgres_to_sqlite_as_text_stores_what_the_python_path_stores(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_source: str
) -> None:
    got, wanted, log = await copy_both(
        pg_pair, sql_install, monkeypatch, tmp_path / "t.db", source_table=pg_source, create=True
    )
    assert len(got) == ROWS
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    assert "every column keeps its type" in log.text
    by_id = {row[0]: row for row in got}
    second = by_id[2]
    assert second[20:22] == ("ab   ", "text")  # char(5) keeps its padding, as asyncpg gives it
    assert second[38:40] == (bytes(range(256)), "blob")
    assert second[36:38] == (1, "integer")  # boolean as 1
    assert second[10:12] == ("1E+20", "text")  # numeric as asyncpg decodes it, then str()
    assert by_id[1][10:12] == ("1E-7", "text")
    assert by_id[4][18:24] == ("\\N", "text", "\\N   ", "text", "\\N", "text")  # the text \N: not NULL
    assert by_id[4][30:32] == ("12:00:00.500000", "text")
    assert by_id[3][2:] == (None, "null") * 20
    assert by_id[12][32:34] == ("2024-01-01 00:00:18", "text")
    assert [by_id[i][32] for i in (13, 15)] == ["2024-01-01 00:00:19.500001", "2024-01-01 00:00:22.500000"]
    assert by_id[10][34] == "2024-01-01 08:00:01.234570+00:00"


async def test_a_converted_column_is_read_and_converted_as_the_python_path_does(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_source: str
) -> None:
    path = tmp_path / "c.db"
    # Kinds that change (converted in Python), and kept kinds in columns whose affinity differs from the
    # created table's: NUMERIC affinity, a boolean in a column of BLOB affinity.
    columns = (
        "id INTEGER PRIMARY KEY, flag TEXT, amount DOUBLE, at TEXT, ident TEXT, day TIMESTAMP, small TEXT, "
        "wide NUMERIC(30,10), big REAL, r DOUBLE, at_tz TIMESTAMP, num TEXT, body TEXT, data BLOB, "
        "whole BOOLEAN_BLOB, doc TEXT"
    )
    with sqlite3.connect(path) as connection:
        for table in ("text", "python"):
            connection.execute(f"CREATE TABLE {table} ({columns})")
    query = (
        "SELECT id, flag, amount, at, ident, day, small, wide, big, r, at_tz, num, body, data, "
        f"whole % 2 = 0 AS whole, doc FROM {pg_source} WHERE id NOT IN (4, 5)"  # no infinities in text
    )
    sql_install.queries("app", "q.sql", f"-- name: rows\n{query}\n")
    got, wanted, log = await copy_both(pg_pair, sql_install, monkeypatch, path, query="rows")
    assert len(got) == ROWS - 2
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    assert "flag, amount, at, ident, day, small, big, r, at_tz, num, doc converted in Python" in log.text
    second = next(row for row in got if row[0] == 2)
    assert second[2:4] == ("true", "text") and second[6:8] == ("9999-12-31T23:59:59.999999", "text")


@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
async def test_every_mode_stores_the_same_rows(
    pg_pair: PgPair,
    sql_install: SqlInstall,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pg_source: str,
    mode: str,
) -> None:
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as connection:
        for table in ("text", "python"):
            connection.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, label TEXT, at TIMESTAMP)")
            connection.execute(f"INSERT INTO {table} VALUES (-1, 'kept', '2000-01-01')")
            if mode == "upsert":
                connection.execute(f"INSERT INTO {table} VALUES (2, 'old', NULL)")
    sql_install.queries("app", "m.sql", f"-- name: rows\nSELECT id, label, at FROM {pg_source}\n")
    key = ["id"] if mode == "upsert" else []
    got, wanted, _ = await copy_both(
        pg_pair, sql_install, monkeypatch, path, query="rows", mode=mode, key=key
    )
    assert got == wanted
    ids = [row[0] for row in got]
    assert (-1 in ids) is (mode != "replace")
    if mode == "upsert":
        assert next(row for row in got if row[0] == 2)[2] == "é" * 40


async def test_an_upsert_of_one_key_twice_in_one_insert_keeps_the_last_row(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_source: str
) -> None:
    path = tmp_path / "u.db"
    with sqlite3.connect(path) as connection:
        for table in ("text", "python"):
            connection.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, label TEXT, at TIMESTAMP)")
    query = f"SELECT s.id % 7 AS id, label, at FROM {pg_source} s WHERE s.id >= 10 ORDER BY s.id"
    sql_install.queries("app", "u.sql", f"-- name: keys\n{query}\n")
    got, wanted, _ = await copy_both(
        pg_pair, sql_install, monkeypatch, path, query="keys", mode="upsert", key=["id"]
    )
    assert got == wanted
    assert [row[2] for row in got] == [f"row {g}" for g in sorted(range(2003, 2010), key=lambda g: g % 7)]


async def test_a_wide_table_takes_fewer_rows_to_an_insert(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert [rows_per_insert(width) for width in (6, 60, 120, 2000)] == [50, 16, 8, 1]
    source = unique("wide")
    names = ["id", *(f"c{i}" for i in range(1, 120))]
    fields = ", ".join(f"g * {i} AS {name}" for i, name in enumerate(names, start=1))
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} AS SELECT {fields} FROM generate_series(1, 101) g",
    )
    got, wanted, _ = await copy_both(
        pg_pair, sql_install, monkeypatch, tmp_path / "w.db", source_table=source, create=True
    )
    assert len(got) == 101 and got == wanted


async def test_progress_is_counted_as_the_rows_go_in(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, pg_source: str
) -> None:
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{tmp_path / 'p.db'}")
    log = Logged()
    out = await sql_install.run(
        "sql_copy", source="src", source_table=pg_source, target="lite", table="t", create=True,
        progress_every=500, log=log,
    )  # fmt: skip
    assert out["rows"] == ROWS
    counted = [fields["rows"] for _, _, fields in log.lines if fields and "rows_per_second" in fields]
    assert counted and counted == sorted(counted) and counted[-1] <= ROWS


@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
async def test_a_value_that_does_not_convert_names_its_row_and_column_and_leaves_the_target(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, mode: str
) -> None:
    source = unique("bad")
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} (id bigint, v text); INSERT INTO {source} "
        f"SELECT g, CASE WHEN g = 2000 THEN 'twelve' ELSE g::text END FROM generate_series(1, 3000) g",
    )
    path = tmp_path / "kept.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v INTEGER)")
        connection.execute("INSERT INTO t VALUES (-1, 1), (-2, 2)")
    before = sqlite_typed(path, "t")
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{path}")
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="src", source_table=source, target="lite", table="t", mode=mode,
            key=["id"] if mode == "upsert" else [],
        )  # fmt: skip
    message = str(caught.value)
    assert message.startswith("step 'load': row 2000, column 'v': value 'twelve' does not fit"), message
    assert sqlite_typed(path, "t") == before


async def test_a_date_python_cannot_hold_names_its_row_and_column(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path
) -> None:
    source = unique("bc")
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} (id bigint, day date); INSERT INTO {source} "
        f"SELECT g, CASE WHEN g = 7 THEN '0044-03-15 BC' ELSE date '2024-01-01' + g END "
        "FROM generate_series(1, 10) g",
    )
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{tmp_path / 'bc.db'}")
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="src", source_table=source, target="lite", table="t", create=True
        )
    assert str(caught.value).startswith(
        "step 'load': row 7, column 'day': PostgreSQL's value '0044-03-15 BC' has no Python value"
    ), caught.value
    with sqlite3.connect(tmp_path / "bc.db") as connection:  # created in the transaction rolled back
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []


async def test_a_session_whose_dates_are_not_iso_takes_the_way_of_python_values(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_source: str
) -> None:
    connection = await asyncpg.connect(pg_pair.source)
    try:
        database = Postgres(cast(Any, SimpleNamespace(driver=connection)))
        assert await database.iso_dates()
        await connection.execute("SET DateStyle = 'SQL, DMY'")
        assert not await database.iso_dates()
    finally:
        await connection.close()
    monkeypatch.setattr(Postgres, "iso_dates", _not_iso)
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{tmp_path / 'd.db'}")
    log = Logged()
    query = f"SELECT id, day, at, at_tz FROM {pg_source} WHERE id NOT IN (4, 5)"
    sql_install.queries("app", "d.sql", f"-- name: dates\n{query}\n")
    out = await sql_install.run(
        "sql_copy", source="src", query="dates", target="lite", table="t", create=True, log=log
    )
    assert out["rows"] == ROWS - 2
    assert "the rows go as Python values: the source session's DateStyle is not ISO" in log.text
    assert sqlite_typed(tmp_path / "d.db", "t")[1][2:4] == ("9999-12-31", "text")


async def _not_iso(self: Postgres) -> bool:
    return False


async def test_a_dry_run_into_sqlite_counts_the_rows_and_writes_nothing(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, pg_source: str
) -> None:
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{tmp_path / 'dry.db'}")
    out = await sql_install.run(
        "sql_copy", source="src", source_table=pg_source, target="lite", table="t", create=True, dry_run=True
    )
    assert out["dry_run"] is True and out["source_rows"] == ROWS
    with sqlite3.connect(tmp_path / "dry.db") as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []


async def test_an_empty_source_inserts_no_rows(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path
) -> None:
    source = unique("empty")
    await pg_execute(pg_pair.source, f"CREATE TABLE {source} (id bigint, v text)")
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{tmp_path / 'e.db'}")
    out = await sql_install.run(
        "sql_copy", source="src", source_table=source, target="lite", table="t", create=True
    )
    assert out["rows"] == 0
    assert sqlite_typed(tmp_path / "e.db", "t") == []


# --- the pure parts ------------------------------------------------------------------------------------


def pg(name: str, declared: str) -> Column:
    return Column(name, parse_postgres(declared))


@pytest.mark.parametrize(
    ("declared", "target", "carried"),
    [
        ("bigint", "BIGINT", True),
        ("boolean", "TEXT", True),  # converted in Python
        ("timestamptz", "TIMESTAMP", True),
        ("bytea", "BLOB", True),
        ("interval", "INTERVAL", False),  # PostgreSQL's interval text is not read: the way of Python values
    ],
)
def test_the_plan_reads_postgres_columns_into_sqlite_as_text(
    declared: str, target: str, carried: bool
) -> None:
    planner = Planner("load", TableName(None, "t"), "postgresql", "sqlite")
    source = [pg("id", "bigint"), pg("v", declared)]
    plan = planner.plan(source, [Column("id", parse_sqlite("BIGINT")), Column("v", parse_sqlite(target))])
    assert plan.text_rows is carried
    assert plan.relay is False


def test_only_postgres_into_sqlite_reads_as_text() -> None:
    source = [pg("id", "bigint"), pg("v", "text")]
    for target in ("postgresql", "mysql"):
        assert not Planner("load", TableName(None, "t"), "postgresql", target).plan(source, None).text_rows


def test_copy_text_cut_anywhere_gives_the_same_rows() -> None:
    data = "1\ta\\tb\\\\\\N\t\\N\n2\t\\N\t\n3\tplain\tZoë\n".encode()
    columns = [
        TextColumn("id", "{column}", parse=int),
        TextColumn("v", "{column}"),
        TextColumn("w", "{column}"),
    ]
    wanted: list[list[object]] = [[1, "a\tb\\N", None], [2, None, ""], [3, "plain", "Zoë"]]
    for cut, per in itertools.product(range(len(data) + 1), (1, 2)):
        text = TextRows(columns, least=1)
        batches = [b for b in (text.feed(data[:cut]), text.feed(data[cut:]), text.finish()) if b is not None]
        flat = [
            v for lines in batches for group in text.groups(lines, 0, len(lines.lines), per) for v in group
        ]
        assert flat == [v for row in wanted for v in row], (cut, per)
        assert [b.offset for b in batches] == [
            sum(len(b.lines) for b in batches[:i]) for i in range(len(batches))
        ]


def test_a_value_that_does_not_read_names_its_row_among_the_groups() -> None:
    text = TextRows([TextColumn("id", "{column}"), TextColumn("n", "{column}", parse=int)], least=1)
    lines = text.feed(b"".join(b"%d\t%d\n" % (g, g) for g in range(1, 8)) + b"8\tx\n9\t9\n")
    assert lines is not None
    with pytest.raises(ValueError, match=r"^row 8, column 'n': PostgreSQL's value 'x' has no Python value"):
        list(text.groups(lines, 0, 9, 3))


def test_a_stream_that_ends_inside_a_row_is_refused() -> None:
    text = TextRows([TextColumn("v", "{column}")], least=1 << 20)
    assert text.feed(b"a\nb") is None
    with pytest.raises(ValueError, match="row 2: the COPY data ended inside it"):
        text.finish()


@pytest.mark.parametrize(
    "text",
    ["10000", "120000", "-100000000", "1230000", "0", "10", "0.0000001", "0.0000000000", "1.50", "NaN"],
)
def test_numerics_read_as_asyncpg_decodes_them(text: str) -> None:
    expected = {"10000": "1E+4", "120000": "1.2E+5", "-100000000": "-1E+8", "1230000": "1.23E+6"}
    got = read_numeric(text)
    assert str(got) == expected.get(text, str(Decimal(text)))
    assert got == Decimal(text) or text == "NaN"


@pytest.mark.parametrize(
    ("declared", "affinity"),
    [("BIGINT", "INTEGER"), ("DECIMAL_TEXT(12,2)", "TEXT"), ("BOOLEAN", "NUMERIC"), ("BLOB", "BLOB"),
     ("", "BLOB"), ("DOUBLE", "REAL"), ("TIMESTAMP", "NUMERIC"), ("JSON", "NUMERIC")],
)  # fmt: skip
def test_sqlite_affinity_follows_sqlites_rules(declared: str, affinity: str) -> None:
    assert sqlite_affinity(declared) == affinity


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("2024-01-01 00:00:00.123456", True),
        ("0044-03-15 00:00:00.123 BC", False),  # 26 characters too
        ("10000-01-01 00:00:00.12345", False),
        ("2024-01-01 00:00:00.5", False),  # isoformat writes six digits
        ("infinity", False),
    ],
)
def test_only_timestamps_spelled_as_isoformat_spells_them_skip_the_reading(text: str, kept: bool) -> None:
    assert _microseconds(text) is kept
    assert _microseconds_utc(text + "+00:00") is kept
    if kept:
        assert datetime.fromisoformat(text).isoformat(sep=" ") == text


def test_a_time_of_24_00_is_read_and_refused_as_asyncpg_refuses_it() -> None:
    assert _time_of_day("23:59:59") and not _time_of_day("24:00:00")
