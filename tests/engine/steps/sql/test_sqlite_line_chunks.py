"""Reading a SQLite table as chunks of COPY lines (Sqlite.line_chunks): every row once, in rowid order,
across gaps and negative rowids; fewer rows a chunk when a chunk would be longer than SQLite's longest
string; and which tables have rowids to read so (`rowid_table`). Then the copy itself: a whole table is
relayed in chunks, the same rows as the same table read through a query."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import aiosqlite
import pytest

import nomaflow.engine.steps.sql.dialects.sqlite as sqlite_dialect
from nomaflow.engine.resources.connectors import Link
from nomaflow.engine.steps.sql.dialects.sqlite import Sqlite
from nomaflow.engine.steps.sql.names import TableName
from tests.engine.steps.conftest import PgPair, SqlInstall
from tests.engine.steps.sql.test_copy_roundtrip import pg_execute, unique
from tests.engine.steps.sql.test_copy_sqlite_relay import AWKWARD, sqlite_file
from tests.engine.steps.sql.test_copy_text_relay import pg_rows

pytestmark = pytest.mark.anyio

ROWIDS = [-(2**63), -5, 0, 3, 4, 10, 1000, 2**63 - 1]


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Sqlite]:
    async with aiosqlite.connect(tmp_path / "chunks.db") as connection:
        await connection.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
            "CREATE VIEW w AS SELECT * FROM t;"
            "CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID;"
            "CREATE TABLE shadow (rowid TEXT, v TEXT);"
        )
        await connection.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in reversed(ROWIDS)])
        yield Sqlite(cast(Link, SimpleNamespace(driver=connection)))


async def chunks(lite: Sqlite, size: int) -> list[tuple[str, int]]:
    return [chunk async for chunk in lite.line_chunks("id || ':' || v", TableName(None, "t"), size)]


async def test_chunks_hold_every_row_once_in_rowid_order(lite: Sqlite) -> None:
    got = await chunks(lite, 3)
    assert [count for _, count in got] == [3, 3, 2]
    assert "\n".join(text for text, _ in got).split("\n") == [f"{i}:v{i}" for i in ROWIDS]
    assert await chunks(lite, 100) == [("\n".join(f"{i}:v{i}" for i in ROWIDS), len(ROWIDS))]


async def test_a_chunk_longer_than_the_longest_string_takes_fewer_rows(lite: Sqlite) -> None:
    # The limit on a string's length is the connection's: 100 bytes hold four of these lines, not eight.
    connection = lite.driver
    await connection._execute(connection._conn.setlimit, sqlite3.SQLITE_LIMIT_LENGTH, 100)
    got = await chunks(lite, 8)
    assert [count for _, count in got] == [4, 4] and all(len(text) <= 100 for text, _ in got)
    assert "\n".join(text for text, _ in got).split("\n") == [f"{i}:v{i}" for i in ROWIDS]


async def test_only_tables_with_their_own_rowids_are_read_in_chunks(lite: Sqlite) -> None:
    assert await lite.rowid_table(TableName(None, "t"))
    for name in ("w", "k", "shadow", "missing"):
        assert not await lite.rowid_table(TableName(None, name)), name


@pytest.mark.postgres
async def test_a_whole_table_is_relayed_in_chunks_the_same_as_through_a_query(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [(g, f"{AWKWARD} {g}" if g % 3 else None, g * 1.5) for g in range(-50, 1000)]
    url = sqlite_file(
        tmp_path / "src.db", "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, r REAL)", rows=rows
    )
    chunked, queried = unique("chunked"), unique("queried")
    for table in (chunked, queried):
        await pg_execute(pg_pair.target, f"CREATE TABLE {table} (id integer PRIMARY KEY, v text, r float8)")
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    sql_install.queries("app", "lite.sql", "-- name: all\nSELECT * FROM src\n")
    sizes: list[int] = []
    line_chunks = Sqlite.line_chunks

    def spied(self: Sqlite, line: str, table: TableName, size: int):  # type: ignore[no-untyped-def]
        sizes.append(size)
        return line_chunks(self, line, table, size)

    monkeypatch.setattr(sqlite_dialect.Sqlite, "line_chunks", spied)
    one = await sql_install.run(
        "sql_copy", source="lite", source_table="src", target="dst", table=chunked, batch_size=7
    )
    other = await sql_install.run(
        "sql_copy", source="lite", query="all", target="dst", table=queried, batch_size=7
    )
    assert sizes == [7] and one["rows"] == other["rows"] == len(rows)
    assert await pg_rows(pg_pair.target, chunked) == await pg_rows(pg_pair.target, queried)
    assert (await pg_rows(pg_pair.target, chunked))[2] == (-48, None, -72.0)
