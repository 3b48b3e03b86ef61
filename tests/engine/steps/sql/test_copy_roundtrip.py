"""sql_copy across databases: every mapped type round-trips exactly, NULLs included.

The reference rows live in PostgreSQL. Each test copies them to another database and, where that is not
PostgreSQL, back again into a PostgreSQL table, then compares the values with the originals.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncmy
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.engine.steps.conftest import PgPair, SqlInstall

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

REFERENCE_DDL = """
CREATE TABLE {name} (
  id bigint PRIMARY KEY,
  name text,
  amount numeric(12,2),
  at timestamptz,
  day date,
  flag boolean,
  doc jsonb,
  data bytea
)"""

REFERENCE_ROWS = """
INSERT INTO {name} VALUES
 (9223372036854775807, 'Zoë — ünïcödé ✓ 😀 日本語', 1234567890.12, '2024-03-31 01:30:00.123456+02',
  '1999-12-31', true, '{{"a": [1, 2.5, "x"], "nested": {{"é": null}}}}', '\\x0001fffe'),
 (-9223372036854775808, E'quote \\' " \\\\ back\\nnew line\\ttab', -0.01, '1970-01-01 00:00:00+00',
  '2038-01-20', false, '[]', ''),
 (0, '', 0.00, '9999-12-31 23:59:58.999999+00', '1000-01-01', true, '"just a string"', '\\x00'),
 (42, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""

COLUMNS = "id, name, amount, at, day, flag, doc, data"


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"


@pytest.fixture
async def reference(pg_pair: PgPair) -> AsyncIterator[str]:
    """A table of the reference rows in the source database; its name."""
    name = unique("typed")
    connection = await asyncpg.connect(pg_pair.source)
    try:
        await connection.execute(REFERENCE_DDL.format(name=name))
        await connection.execute(REFERENCE_ROWS.format(name=name))
        yield name
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {name}")
        await connection.close()


async def pg_rows(url: str, table: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await connection.fetch(f"SELECT {COLUMNS} FROM {table} ORDER BY id")]
    finally:
        await connection.close()


async def pg_types(url: str, table: str) -> dict[str, str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            table,
        )
        return {r[0]: r[1] for r in rows}
    finally:
        await connection.close()


async def pg_execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def mysql_fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    parsed = make_url(url)
    connection = await asyncmy.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.database,
        init_command="SET time_zone = '+00:00'",
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            return [tuple(r) for r in await cursor.fetchall()]
    finally:
        connection.close()


async def test_postgres_to_postgres_creates_an_identical_table(
    pg_pair: PgPair, reference: str, sql_install: SqlInstall
) -> None:
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    target = unique("copied")
    output = await sql_install.run(
        "sql_copy", source="src", source_table=reference, target="dst", table=target, create=True
    )
    assert output["rows"] == 4 and output["created"] is True and output["passthrough"] is True
    assert await pg_rows(pg_pair.target, target) == await pg_rows(pg_pair.source, reference)
    assert await pg_types(pg_pair.target, target) == await pg_types(pg_pair.source, reference)


async def test_postgres_to_postgres_with_a_coerced_column(
    pg_pair: PgPair, reference: str, sql_install: SqlInstall
) -> None:
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    target = unique("coerced")
    await pg_execute(
        pg_pair.target, REFERENCE_DDL.format(name=target).replace("amount numeric(12,2)", "amount text")
    )
    output = await sql_install.run(
        "sql_copy", source="src", source_table=reference, target="dst", table=target, mode="append"
    )
    assert output["rows"] == 4 and output["passthrough"] is True  # the source casts numeric to text
    copied = await pg_rows(pg_pair.target, target)
    original = await pg_rows(pg_pair.source, reference)
    assert [r[2] for r in copied] == [None if r[2] is None else str(r[2]) for r in original]
    assert [r[:2] + r[3:] for r in copied] == [r[:2] + r[3:] for r in original]


async def test_postgres_to_mariadb_and_back(
    pg_pair: PgPair, mariadb_url: str, reference: str, sql_install: SqlInstall
) -> None:
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url).connector(
        "dst", pg_pair.target
    )
    middle, back = unique("in_maria"), unique("back")
    out = await sql_install.run(
        "sql_copy", source="src", source_table=reference, target="maria", table=middle, create=True
    )
    assert out["rows"] == 4
    # In MariaDB: exact decimals and text, timestamps in UTC, booleans as tinyint(1), bytes as bytes.
    stored = await mysql_fetch(mariadb_url, f"SELECT {COLUMNS} FROM `{middle}` ORDER BY id")
    assert stored[0][1] == "quote ' \" \\ back\nnew line\ttab" and stored[0][2] == Decimal("-0.01")
    assert stored[3][1] == "Zoë — ünïcödé ✓ 😀 日本語" and stored[3][7] == b"\x00\x01\xff\xfe"
    assert str(stored[3][3]) == "2024-03-30 23:30:00.123456"
    assert stored[2] == (42, None, None, None, None, None, None, None)
    types = dict(
        await mysql_fetch(
            mariadb_url,
            f"SELECT column_name, column_type FROM information_schema.columns "
            f"WHERE table_schema = DATABASE() AND table_name = '{middle}'",
        )
    )
    assert types == {
        "id": "bigint(20)",
        "name": "longtext",
        "amount": "decimal(12,2)",
        "at": "datetime(6)",
        "day": "date",
        "flag": "tinyint(1)",
        "doc": "longtext",
        "data": "longblob",
    }
    # Back into a table of the original types: every value as it was.
    await pg_execute(pg_pair.target, REFERENCE_DDL.format(name=back))
    out = await sql_install.run(
        "sql_copy", source="maria", source_table=middle, target="dst", table=back, mode="append"
    )
    assert out["rows"] == 4
    assert await pg_rows(pg_pair.target, back) == await pg_rows(pg_pair.source, reference)


async def test_mariadb_to_postgres_creates_mapped_types(
    pg_pair: PgPair, mariadb_url: str, reference: str, sql_install: SqlInstall
) -> None:
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url).connector(
        "dst", pg_pair.target
    )
    middle, back = unique("in_maria"), unique("created")
    await sql_install.run(
        "sql_copy", source="src", source_table=reference, target="maria", table=middle, create=True
    )
    # MariaDB's DATETIME has no zone: the `columns` override says these are UTC instants again.
    out = await sql_install.run(
        "sql_copy",
        source="maria",
        source_table=middle,
        target="dst",
        table=back,
        create=True,
        columns={"at": "timestamptz"},
    )
    assert out["created"] is True
    assert await pg_types(pg_pair.target, back) == {
        "id": "bigint",
        "name": "text",
        "amount": "numeric(12,2)",
        "at": "timestamp with time zone",
        "day": "date",
        "flag": "boolean",
        "doc": "jsonb",
        "data": "bytea",
    }
    assert await pg_rows(pg_pair.target, back) == await pg_rows(pg_pair.source, reference)


async def test_postgres_to_sqlite_and_back(
    pg_pair: PgPair, reference: str, sql_install: SqlInstall, tmp_path: Path
) -> None:
    database = tmp_path / "copy.db"
    sql_install.connector("src", pg_pair.source).connector("lite", f"sqlite:///{database}")
    sql_install.connector("dst", pg_pair.target)
    back = unique("from_sqlite")
    out = await sql_install.run(
        "sql_copy", source="src", source_table=reference, target="lite", table="typed", create=True
    )
    assert out["rows"] == 4
    with sqlite3.connect(database) as connection:
        declared = {r[1]: r[2] for r in connection.execute("PRAGMA table_info(typed)")}
        stored = connection.execute(f"SELECT {COLUMNS} FROM typed ORDER BY id").fetchall()
    assert declared == {
        "id": "BIGINT",
        "name": "TEXT",
        "amount": "DECIMAL_TEXT(12,2)",
        "at": "TIMESTAMPTZ",
        "day": "DATE",
        "flag": "BOOLEAN",
        "doc": "JSON",
        "data": "BLOB",
    }
    # Decimals keep their digits (as text), instants are UTC, booleans 0/1, bytes stay bytes.
    assert stored[3][2] == "1234567890.12" and stored[0][2] == "-0.01" and stored[1][2] == "0.00"
    assert stored[3][3] == "2024-03-30 23:30:00.123456+00:00" and stored[3][5] == 1
    assert stored[3][7] == b"\x00\x01\xff\xfe" and stored[2][1:] == (None,) * 7
    # And back, creating the PostgreSQL table from SQLite's declared types.
    out = await sql_install.run(
        "sql_copy", source="lite", source_table="typed", target="dst", table=back, create=True
    )
    assert out["rows"] == 4
    assert await pg_types(pg_pair.target, back) == await pg_types(pg_pair.source, reference)
    assert await pg_rows(pg_pair.target, back) == await pg_rows(pg_pair.source, reference)


async def test_sqlite_query_without_declared_types_to_postgres(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path
) -> None:
    database = tmp_path / "plain.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB)")
        connection.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?)", [(1, "x", 1.5, b"\x01"), (2, None, None, None)]
        )
    sql_install.connector("lite", f"sqlite:///{database}").connector("dst", pg_pair.target)
    sql_install.queries(
        "app",
        "lite.sql",
        "-- name: lite-rows\nSELECT a * 2 AS twice, b || '!' AS shout, c, d FROM t WHERE a >= :low\n",
    )
    target = unique("sniffed")
    out = await sql_install.run(
        "sql_copy",
        source="lite",
        query="lite-rows",
        params={"low": 1},
        target="dst",
        table=target,
        create=True,
    )
    assert out["rows"] == 2
    assert await pg_types(pg_pair.target, target) == {
        "twice": "bigint",
        "shout": "text",
        "c": "double precision",
        "d": "bytea",
    }
    connection = await asyncpg.connect(pg_pair.target)
    try:
        rows = [tuple(r) for r in await connection.fetch(f"SELECT * FROM {target} ORDER BY twice")]
    finally:
        await connection.close()
    assert rows == [(2, "x!", 1.5, b"\x01"), (4, None, None, None)]


async def test_upsert_updates_and_inserts_by_key(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, tmp_path: Path
) -> None:
    source = unique("people")
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} (id int PRIMARY KEY, name text);"
        f"INSERT INTO {source} VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')",
    )
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    sql_install.connector("maria", mariadb_url).connector("lite", f"sqlite:///{tmp_path / 'u.db'}")
    for target in ("dst", "maria", "lite"):
        table = unique("upserted")
        options: dict[str, Any] = {
            "source": "src",
            "source_table": source,
            "target": target,
            "table": table,
            "mode": "upsert",
            "key": ["id"],
        }
        await sql_install.run("sql_copy", create=True, **options)
        await pg_execute(pg_pair.source, f"UPDATE {source} SET name = upper(name) WHERE id = 2")
        await pg_execute(pg_pair.source, f"INSERT INTO {source} VALUES (4, 'dee')")
        out = await sql_install.run("sql_copy", **options)
        assert out["rows"] == 4
        if target == "dst":
            rows = [
                tuple(r)
                for r in await (await asyncpg.connect(pg_pair.target)).fetch(
                    f"SELECT * FROM {table} ORDER BY id"
                )
            ]
        elif target == "maria":
            rows = await mysql_fetch(mariadb_url, f"SELECT * FROM `{table}` ORDER BY id")
        else:
            with sqlite3.connect(tmp_path / "u.db") as connection:
                rows = connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        assert rows == [(1, "ann"), (2, "BOB"), (3, "cy"), (4, "dee")]
        await pg_execute(
            pg_pair.source, f"UPDATE {source} SET name = lower(name); DELETE FROM {source} WHERE id = 4"
        )


async def test_a_source_role_without_temporary_tables_still_copies(
    pg_pair: PgPair, reference: str, sql_install: SqlInstall
) -> None:
    # A read-only role (as on a replica) cannot make the probe table that gives exact column types: the
    # copy falls back on the row description (numeric without its precision) and still copies exactly.
    role = unique("nf_reader")
    source_db = make_url(pg_pair.source).database
    await pg_execute(
        pg_pair.source,
        f"CREATE ROLE {role} LOGIN; REVOKE TEMPORARY ON DATABASE {source_db} FROM PUBLIC; "
        f"GRANT SELECT ON {reference} TO {role}",
    )
    try:
        reader_url = make_url(pg_pair.source).set(username=role).render_as_string(hide_password=False)
        sql_install.connector("src", reader_url).connector("dst", pg_pair.target)
        target = unique("from_reader")
        out = await sql_install.run(
            "sql_copy", source="src", source_table=reference, target="dst", table=target, create=True
        )
        assert out["rows"] == 4
        assert (await pg_types(pg_pair.target, target))["amount"] == "numeric"
        assert await pg_rows(pg_pair.target, target) == await pg_rows(pg_pair.source, reference)
    finally:
        await sql_install.aclose()
        await pg_execute(
            pg_pair.source,
            f"GRANT TEMPORARY ON DATABASE {source_db} TO PUBLIC; DROP OWNED BY {role}; DROP ROLE {role}",
        )
