"""sql_copy between two PostgreSQL databases with columns converted in Python: only those are decoded, the
others pass through as bytes, and the rows are exactly those of the generic path (every row decoded by
asyncpg, converted, re-encoded), NULLs and errors included."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import nomaflow.engine.steps.sql.copy_plan as copy_plan
from nomaflow.actors.errors import PermanentStepFailure
from tests.engine.steps.conftest import Logged, PgPair, SqlInstall

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SOURCE_DDL = """
CREATE TABLE {name} (
  id bigint, name text, amount numeric(12,2), at timestamptz, flag boolean, doc jsonb, day date, v text
)"""
SOURCE_ROWS = """
INSERT INTO {name} VALUES
 (1, 'Zoë ✓', 12.30, '2024-03-31 01:30:00.123456+02', true, '{{"a": [1, 2.5]}}', '1999-12-31', '42'),
 (2, NULL, -0.01, '1970-01-01 00:00:00+00', false, '[]', '2038-01-20', ' -7 '),
 (3, '', NULL, NULL, NULL, NULL, NULL, NULL),
 (NULL, 'only', 0.00, '9999-12-31 23:59:58.999999+00', true, '"x"', '0001-01-01', '9223372036854775807')
"""
# Every kind of column at once: converted in Python (flag, at, day, v), narrowed (id: only the binary
# form differs), cast by the source server (amount), and passed through untouched (name, doc).
TARGET_DDL = """
CREATE TABLE {name} (
  id integer, name text, amount double precision, at text, flag text, doc jsonb, day timestamp, v bigint
)"""
COLUMNS = "id, name, amount, at, flag, doc, day, v"


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"


async def execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [
            tuple(r) for r in await connection.fetch(f"SELECT {COLUMNS} FROM {table} ORDER BY id NULLS LAST")
        ]
    finally:
        await connection.close()


@pytest.fixture
async def source(pg_pair: PgPair) -> AsyncIterator[str]:
    name = unique("mixed")
    await execute(pg_pair.source, SOURCE_DDL.format(name=name) + ";" + SOURCE_ROWS.format(name=name))
    try:
        yield name
    finally:
        await execute(pg_pair.source, f"DROP TABLE {name}")


async def copy(install: SqlInstall, source: str, table: str, **options: Any) -> tuple[Any, Logged]:
    log = Logged()
    output = await install.run(
        "sql_copy", source="src", source_table=source, target="dst", table=table, log=log, **options
    )
    return output, log


@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
async def test_spliced_rows_are_those_of_the_generic_path(
    pg_pair: PgPair, source: str, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    spliced, generic = unique("spliced"), unique("generic")
    for table in (spliced, generic):
        await execute(pg_pair.target, TARGET_DDL.format(name=table))
        if mode == "upsert":
            await execute(pg_pair.target, f"CREATE UNIQUE INDEX ON {table} (name)")
    key = ["name"] if mode == "upsert" else []

    output, log = await copy(sql_install, source, spliced, mode=mode, key=key)
    assert output["rows"] == 4 and output["passthrough"] is False
    assert (
        "converting id, at, flag, day, v in Python; the other columns' COPY data passes through" in log.text
    )

    # The same copy with splicing ruled out: every row through asyncpg's decoding and encoding.
    monkeypatch.setattr(copy_plan, "_spliceable", lambda have, wanted: False)
    output, log = await copy(sql_install, source, generic, mode=mode, key=key)
    assert output["rows"] == 4 and "converting" not in log.text

    copied = await rows(pg_pair.target, spliced)
    assert copied == await rows(pg_pair.target, generic)
    assert copied[0][:5] == (1, "Zoë ✓", 12.3, "2024-03-30T23:30:00.123456+00:00", "true")
    assert copied[0][7] == 42
    assert copied[2] == (3, "", None, None, None, None, None, None)  # NULLs in every kind of column


async def test_an_empty_source_replaces_the_rows(
    pg_pair: PgPair, source: str, sql_install: SqlInstall
) -> None:
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    empty, table = unique("empty"), unique("emptied")
    await execute(pg_pair.source, f"CREATE TABLE {empty} (LIKE {source})")
    await execute(pg_pair.target, TARGET_DDL.format(name=table))
    await execute(pg_pair.target, f"INSERT INTO {table} (id, flag) VALUES (1, 'old')")
    try:
        output, log = await copy(sql_install, empty, table)
    finally:
        await execute(pg_pair.source, f"DROP TABLE {empty}")
    assert output["rows"] == 0 and "converting" in log.text
    assert await rows(pg_pair.target, table) == []


@pytest.mark.parametrize(
    ("value", "target_type", "message"),
    [
        ("'twelve'", "bigint", "value 'twelve' does not fit (text -> bigint): expected a whole number"),
        (
            "'4000000000'",
            "integer",
            "value '4000000000' does not fit (text -> integer): "
            "expected a whole number from -2147483648 to 2147483647 (integer)",
        ),
    ],
)
async def test_a_bad_value_names_its_row_and_column_and_changes_nothing(
    pg_pair: PgPair, sql_install: SqlInstall, value: str, target_type: str, message: str
) -> None:
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    source, table = unique("bad"), unique("kept")
    # Enough rows for the bad one to come in a later chunk than the first.
    await execute(
        pg_pair.source,
        f"CREATE TABLE {source} AS SELECT g AS id, CASE WHEN g = 25000 THEN {value} ELSE g::text END AS v, "
        "g % 2 = 0 AS flag FROM generate_series(1, 30000) g ORDER BY g",
    )
    await execute(pg_pair.target, f"CREATE TABLE {table} (id integer, v {target_type}, flag text)")
    await execute(pg_pair.target, f"INSERT INTO {table} VALUES (-1, 1, 'kept')")
    try:
        with pytest.raises(PermanentStepFailure) as caught:
            await copy(sql_install, source, table, mode="append")
    finally:
        await execute(pg_pair.source, f"DROP TABLE {source}")
    assert str(caught.value) == f"step 'step1': row 25000, column 'v': {message}"
    connection = await asyncpg.connect(pg_pair.target)
    try:
        assert [tuple(r) for r in await connection.fetch(f"SELECT * FROM {table}")] == [(-1, 1, "kept")]
    finally:
        await connection.close()


async def test_a_type_without_a_codec_takes_the_generic_path(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every mapped type has a codec today; a type that had none would still copy, row by row.
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    source, table = unique("plain"), unique("generic")
    await execute(pg_pair.source, f"CREATE TABLE {source} AS SELECT 1 AS id, true AS flag")
    await execute(pg_pair.target, f"CREATE TABLE {table} (id integer, flag text)")
    monkeypatch.setattr(copy_plan, "encoder", lambda t: None)
    try:
        output, log = await copy(sql_install, source, table)
    finally:
        await execute(pg_pair.source, f"DROP TABLE {source}")
    assert output["rows"] == 1 and "converting" not in log.text
    connection = await asyncpg.connect(pg_pair.target)
    try:
        assert [tuple(r) for r in await connection.fetch(f"SELECT * FROM {table}")] == [(1, "true")]
    finally:
        await connection.close()
