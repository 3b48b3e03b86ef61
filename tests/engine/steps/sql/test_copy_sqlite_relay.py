"""sql_copy from SQLite into PostgreSQL as SQLite's own text (copy_text.sqlite_line): the same rows as
the way of Python values for every type it carries, at their extremes, with NULLs, unicode, blobs and
every character COPY text escapes; a stored value that does not match its declared type is refused by
PostgreSQL naming its row and column, and leaves the target as it was.

Each value test copies the same source twice, once relayed and once with the relay turned off, and
compares the two tables: the Python path is the reference the round-trip tests hold to the originals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.engine.steps.sql.copy_plan import Planner
from nomaflow.engine.steps.sql.names import Column, TableName
from nomaflow.engine.steps.sql.types import parse_postgres, parse_sqlite
from tests.engine.steps.conftest import Logged, PgPair, SqlInstall
from tests.engine.steps.sql.test_copy_failures import Target
from tests.engine.steps.sql.test_copy_roundtrip import pg_execute, unique
from tests.engine.steps.sql.test_copy_text_relay import pg_rows, relay_off

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SQLITE_SOURCE = (
    "CREATE TABLE src (id INTEGER PRIMARY KEY, small INTEGER, big BIGINT, amount DECIMAL_TEXT(12,2), "
    "wide DECIMAL_TEXT(30,10), num NUMERIC, ratio REAL, label VARCHAR(40), body TEXT, doc JSON, "
    "at TIMESTAMP, at_tz TIMESTAMPTZ, at_off TIMESTAMP, naive_tz TIMESTAMP, flag BOOLEAN, data BLOB)"
)
# Every character COPY text escapes or may misread, and \N spelled out as text.
AWKWARD = "a\\b\tc\nd\re\bf\fg\vh \\N \\t end Zoë 😀 日本語"
ROWS = [
    (1, -32768, -(2**63), "-9999999999.99", "-99999999999999999999.9999999999", 0.1 + 0.2,
     -1.7976931348623157e308, "", "", "{}", "1000-01-01 00:00:00", "1970-01-01 00:00:00",
     "2024-06-01 12:00:00.123456+02:00", "2024-06-01 12:00:00.5", 0, b""),
    (2, 32767, 2**63 - 1, "9999999999.99", "99999999999999999999.9999999999", 12.34,
     2.2250738585072014e-308, "é" * 40, AWKWARD, '{"s": "tab\\there \\\\ \\"q\\"", "u": "é😀"}',
     "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999-05:00", "2024-01-01T00:30:00Z",
     "2024-01-01T10:00:00", 1, bytes(range(256))),
    (3, *([None] * 15)),
] + [
    # Each character to escape alone in its text.
    (id, *([None] * 7), f"one {char} only", None, None, None, None, None, None, None)
    for id, char in zip(range(4, 8), "\\\t\n\r", strict=True)
] + [
    (g, g % 1000, g * 1000003, f"{g / 100:.2f}", f"{g / 3:.10f}", g if g % 2 else g / 7, g / 9,
     f"row {g}", AWKWARD * 4 + str(g), f'{{"g": {g}, "t": "x\\ty"}}', f"2024-01-01 00:{g % 60:02}:00",
     f"2024-01-01 01:00:00.{g:06}+0{g % 10}:00", f"2024-02-01 00:00:00-0{g % 10}:30",
     f"2024-03-01 00:00:{g % 60:02}", g % 2, g.to_bytes(4, "big"))
    for g in range(10, 1010)
]  # fmt: skip
PG_TARGET = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, small smallint, big bigint, amount numeric(12,2), wide numeric(30,10),
  num numeric, ratio double precision, label varchar(40), body text, doc jsonb, at timestamp,
  at_tz timestamptz, at_off timestamp, naive_tz timestamptz, flag boolean, data bytea
)"""


def sqlite_file(path: Path, *statements: str, rows: Sequence[tuple[object, ...]] = ()) -> str:
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            connection.executemany(f"INSERT INTO src VALUES ({marks})", rows)
    return f"sqlite:///{path}"


async def test_sqlite_to_postgres_gives_the_rows_of_the_python_path(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_file(tmp_path / "src.db", SQLITE_SOURCE, rows=ROWS)
    relayed, reference = unique("relayed"), unique("reference")
    for table in (relayed, reference):
        await pg_execute(pg_pair.target, PG_TARGET.format(name=table))
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    log = Logged()
    out = await sql_install.run(
        "sql_copy", source="lite", source_table="src", target="dst", table=relayed, log=log
    )
    assert out["rows"] == len(ROWS) and out["text_relay"] is True
    assert "the rows go from server to server as text" in log.text
    relay_off(monkeypatch)
    out = await sql_install.run("sql_copy", source="lite", source_table="src", target="dst", table=reference)
    assert out["rows"] == len(ROWS) and out["text_relay"] is False
    got, wanted = await pg_rows(pg_pair.target, relayed), await pg_rows(pg_pair.target, reference)
    assert len(got) == len(ROWS)
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    first, second = got[0], got[1]
    assert first[5] == Decimal("0.30000000000000004") and second[5] == Decimal("12.34")
    assert first[12] == datetime(2024, 6, 1, 10, 0, 0, 123456)  # naive in UTC, as the Python path
    assert second[11] == datetime(2038, 1, 19, 8, 14, 7, 999999, tzinfo=UTC)
    assert second[13] == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert second[8] == AWKWARD and second[15] == bytes(range(256)) and second[14] is True
    assert got[2][1:] == (None,) * 15


@pytest.mark.parametrize("mode", ["replace", "append"])
async def test_a_value_of_another_storage_class_names_its_row_and_column_and_leaves_the_target(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, mode: str
) -> None:
    # SQLite keeps text that does not look like a number in an INTEGER column as text.
    rows = [(g, "twelve" if g == 2000 else g) for g in range(1, 3001)]
    url = sqlite_file(tmp_path / "bad.db", "CREATE TABLE src (id INTEGER, v INTEGER)", rows=rows)
    table = unique("kept")
    target = Target("postgresql", pg_pair.target)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v integer)")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 1), (-2, 2)")
    before = await target.rows(table)
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="lite", source_table="src", target="dst", table=table, mode=mode
        )
    message = str(caught.value)
    assert message.startswith("step 'load': row 2000, column 'v': the target refused the value"), message
    assert "twelve" in message
    assert await target.rows(table) == before
    assert await target.side_tables() == []


async def test_an_empty_sqlite_source_relays_no_rows(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path
) -> None:
    url = sqlite_file(tmp_path / "empty.db", "CREATE TABLE src (id INTEGER, name TEXT)")
    table = unique("empty")
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    out = await sql_install.run(
        "sql_copy", source="lite", source_table="src", target="dst", table=table, create=True
    )
    assert (out["rows"], out["text_relay"]) == (0, True)
    assert await Target("postgresql", pg_pair.target).rows(table) == []


def lite(name: str, declared: str) -> Column:
    return Column(name, parse_sqlite(declared))


@pytest.mark.parametrize(
    ("declared", "target", "relay", "in_python"),
    [
        ("INTEGER", "integer", True, []),
        ("TEXT", "jsonb", True, []),
        ("TIMESTAMP", "timestamptz", True, []),
        ("BLOB", "bytea", True, []),
        ("BOOLEAN", "text", True, [1]),  # converted in Python as SQLite writes the line
        ("DATE", "date", True, [1]),  # SQLite's date spellings are read by the Python conversion
        ("UUID", "uuid", True, [1]),
        ("", "text", True, [1]),  # an untyped expression's values may be of any storage class
        ("TEXT", "interval", False, []),  # no COPY spelling of a converted interval: Python values
    ],
)
def test_the_plan_relays_sqlite_columns_converting_the_others_in_python(
    declared: str, target: str, relay: bool, in_python: list[int]
) -> None:
    planner = Planner("load", TableName(None, "t"), "sqlite", "postgresql")
    source = [lite("id", "BIGINT"), lite("v", declared)]
    plan = planner.plan(source, [Column("id", parse_postgres("bigint")), Column("v", parse_postgres(target))])
    assert (plan.relay, plan.relay_converted) == (relay, in_python)


def test_the_plan_relays_from_sqlite_only_into_postgresql() -> None:
    source = [lite("id", "BIGINT"), lite("v", "TEXT")]
    for target in ("sqlite", "mysql"):
        assert Planner("load", TableName(None, "t"), "sqlite", target).plan(source, None).relay is False
    assert Planner("load", TableName(None, "t"), "sqlite", "postgresql").plan(source, None).relay is True


async def test_a_dry_run_from_sqlite_counts_the_rows_and_writes_nothing(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path
) -> None:
    url = sqlite_file(tmp_path / "dry.db", SQLITE_SOURCE, rows=ROWS)
    table = unique("dry")
    target = Target("postgresql", pg_pair.target)
    await target.execute(PG_TARGET.format(name=table))
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    out = await sql_install.run(
        "sql_copy", source="lite", source_table="src", target="dst", table=table, dry_run=True
    )
    assert out["dry_run"] is True and out["source_rows"] == len(ROWS)
    assert await target.rows(table) == []
