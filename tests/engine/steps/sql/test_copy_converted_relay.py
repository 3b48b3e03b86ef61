"""sql_copy into PostgreSQL with columns converted in Python inside the text relay (copy_fields): from
SQLite, SQLite writes the lines and calls the plan's conversion for the converted columns; from MariaDB,
the server writes the text around the converted columns and Python joins it to their converted values.
The rows are those of the way of Python values, for every kind a conversion can give; a value a
conversion refuses names its row and column (from SQLite even under ORDER BY) and leaves the target as
it was; rows wider than one printf() call are joined right.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from nomaflow.actors.errors import PermanentStepFailure
from tests.engine.steps.conftest import Logged, PgPair, SqlInstall
from tests.engine.steps.sql.test_copy_extremes import maria_execute
from tests.engine.steps.sql.test_copy_failures import Target
from tests.engine.steps.sql.test_copy_roundtrip import mysql_fetch, pg_execute, unique
from tests.engine.steps.sql.test_copy_sqlite_relay import AWKWARD, sqlite_file
from tests.engine.steps.sql.test_copy_text_relay import pg_rows, relay_off

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

# Each source column goes into a target column of another kind, so each is converted in Python; `same`
# keeps its kind and travels as SQLite's text beside them.
SOURCE = (
    "CREATE TABLE src (id INTEGER PRIMARY KEY, flag BOOLEAN, count INTEGER, digits TEXT, day DATE, "
    "at TEXT, ident UUID, ratio REAL, amount DECIMAL_TEXT(20,4), body INTEGER, same TEXT, untyped, "
    "truth TEXT, clock TEXT, score INTEGER, small INTEGER, noon DATE, key BLOB)"
)
TARGET = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, flag text, count text, digits bigint, day date, at timestamptz, ident uuid,
  ratio numeric, amount double precision, body text, same text, untyped text, truth boolean, clock time,
  score jsonb, small real, noon timestamp, key uuid
)"""
ROWS = [
    (1, 1, -(2**63), "-9223372036854775808", "0001-01-01", "2024-06-01 12:00:00.123456+02:00",
     "12345678-1234-5678-1234-567812345678", 1e308, "-9999999999999999.9999", 0, AWKWARD, 7,
     " Yes ", "00:00:00", -(2**63), 2**24 + 1, "0001-01-01", bytes(16)),
    (2, 0, 2**63 - 1, " 42 ", "9999-12-31", "2038-01-19T03:14:07Z",
     "{12345678-1234-5678-1234-567812345678}", 0.1 + 0.2, "0.0000001", 2**53, "é😀", "text\tand\\",
     "off", "23:59:59.999999", 2**63 - 1, -1, "9999-12-31", bytes(range(16))),
    (3, *([None] * 17)),
] + [
    (g, g % 2, g, str(g * 7), f"2024-01-{g % 28 + 1:02}", f"2024-01-01 00:00:{g % 60:02}",
     f"00000000-0000-0000-0000-{g:012}", g / 3, f"{g}.5", g, f"row {g}", g * 1.5 if g % 2 else f"t{g}",
     ("t", "0", "no", "1")[g % 4], f"12:{g % 60:02}:00.{g}", g, g, f"2024-02-{g % 28 + 1:02}",
     g.to_bytes(16, "big"))
    for g in range(10, 510)
]  # fmt: skip


async def relayed_and_not(
    sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch, tables: tuple[str, str], **where: Any
) -> str:
    """Copy the source into the first table on the relay, then into the second the way of Python values
    (the reference); the first copy's log."""
    log = Logged()
    out = await sql_install.run("sql_copy", table=tables[0], log=log, **where)
    assert out["text_relay"] is True
    relay_off(monkeypatch)
    out = await sql_install.run("sql_copy", table=tables[1], **where)
    assert out["text_relay"] is False
    return log.text


async def test_converted_columns_give_the_rows_of_the_python_path(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_file(tmp_path / "src.db", SOURCE, rows=ROWS)
    relayed, reference = unique("conv"), unique("conv_ref")
    for table in (relayed, reference):
        await pg_execute(pg_pair.target, TARGET.format(name=table))
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    converted = "flag, count, digits, day, at, ident, ratio, amount, body, untyped, truth, clock, score"
    log = await relayed_and_not(
        sql_install, monkeypatch, (relayed, reference), source="lite", source_table="src", target="dst"
    )
    assert f"{converted}, small, noon, key converted in Python" in log
    got, wanted = await pg_rows(pg_pair.target, relayed), await pg_rows(pg_pair.target, reference)
    assert len(got) == len(ROWS)
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    assert got[0][1:3] == ("true", "-9223372036854775808") and got[1][3] == 42
    assert got[0][10] == AWKWARD and got[1][11] == "text\tand\\"
    assert got[0][12:14] == (True, time(0)) and got[1][12] is False and got[1][15] == -1.0
    assert got[2][1:] == (None,) * 17


@pytest.mark.parametrize("order", ["", " ORDER BY id DESC"])
async def test_a_value_a_conversion_refuses_names_its_row_and_column_and_leaves_the_target(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, order: str
) -> None:
    rows = [(g, "twelve" if g == 2000 else str(g)) for g in range(1, 3001)]
    url = sqlite_file(tmp_path / "bad.db", "CREATE TABLE src (id INTEGER, v TEXT)", rows=rows)
    table = unique("conv_kept")
    target = Target("postgresql", pg_pair.target)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v integer)")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 1)")
    before = await target.rows(table)
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    sql_install.queries("app", "lite.sql", f"-- name: ordered\nSELECT id, v FROM src{order}\n")
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="lite", query="ordered", target="dst", table=table
        )
    row = 2000 if not order else 3001 - 2000
    assert str(caught.value) == (
        f"step 'load': row {row}, column 'v': value 'twelve' does not fit (TEXT -> integer): "
        "expected a whole number"
    )
    assert await target.rows(table) == before
    assert await target.side_tables() == []


async def test_rows_wider_than_one_printf_are_relayed_whole(
    pg_pair: PgPair, sql_install: SqlInstall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite functions take at most 127 arguments: 250 columns take three printf() calls a line.
    names = [f"c{i}" for i in range(250)]
    columns = ", ".join(f"{n} {'TEXT' if i % 2 else 'INTEGER'}" for i, n in enumerate(names))
    rows = [
        tuple((f"r{r}\tc{i}" if i % 2 else r * 1000 + i) if (r + i) % 7 else None for i in range(250))
        for r in range(1, 21)
    ]
    url = sqlite_file(tmp_path / "wide.db", f"CREATE TABLE src ({columns})", rows=rows)
    relayed = unique("wide")
    pg_columns = ", ".join(f"{n} {'text' if i % 2 else 'bigint'}" for i, n in enumerate(names))
    await pg_execute(pg_pair.target, f"CREATE TABLE {relayed} ({pg_columns})")
    sql_install.connector("lite", url).connector("dst", pg_pair.target)
    out = await sql_install.run("sql_copy", source="lite", source_table="src", target="dst", table=relayed)
    assert out["text_relay"] is True
    got = await Target("postgresql", pg_pair.target).fetch(f"SELECT * FROM {relayed} ORDER BY c0 NULLS FIRST")
    assert sorted(got, key=lambda r: (r[0] is not None, r[0] or 0)) == sorted(
        rows, key=lambda r: (r[0] is not None, r[0] or 0)
    )


# --- from MariaDB ----------------------------------------------------------------------------------------

MARIA_SOURCE = (
    "CREATE TABLE {name} (id int PRIMARY KEY, flag boolean, count int, digits varchar(30), day varchar(20), "
    "amount decimal(20,4), ratio double, body text, same text, score bigint, key_text varchar(40), "
    "key_bytes binary(16), clock time(6), truth varchar(5))",
    "INSERT INTO {name} VALUES "
    "(1, true, -2147483648, '-9223372036854775808', '0001-01-01', -9999999999999999.9999, 1e308, "
    "'a\\\\b\\tc', 'x', -9223372036854775808, '12345678-1234-5678-1234-567812345678', "
    "x'00000000000000000000000000000000', '00:00:00', ' Yes '), "
    "(2, false, 2147483647, ' 42 ', '9999-12-31', 0.0001, 0.30000000000000004, 'é😀', "
    "CONCAT('t', CHAR(9), 'ab'), 9223372036854775807, '{{12345678-1234-5678-1234-567812345678}}', "
    "x'ffffffffffffffffffffffffffffffff', '23:59:59.999999', 'off'), "
    "(3" + ", NULL" * 13 + ")",
    "INSERT INTO {name} SELECT seq, seq % 2, seq, seq * 7, CONCAT('2024-01-', LPAD(seq % 28 + 1, 2, '0')), "
    "seq + 0.5, seq / 3, CONCAT('row ', seq), CONCAT('same ', seq), seq, UUID(), UNHEX(MD5(seq)), "
    "SEC_TO_TIME(seq), ELT(seq % 4 + 1, 't', '0', 'no', '1') FROM seq_10_to_509",
)
MARIA_TARGET = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, flag text, count text, digits bigint, day date, amount double precision,
  ratio numeric, body text, same text, score jsonb, key_text uuid, key_bytes uuid, clock text,
  truth boolean
)"""


async def test_mariadb_columns_converted_on_the_way_give_the_rows_of_the_python_path(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, relayed, reference = unique("mconv_src"), unique("mconv"), unique("mconv_ref")
    await maria_execute(mariadb_url, *(s.format(name=source) for s in MARIA_SOURCE))
    for table in (relayed, reference):
        await pg_execute(pg_pair.target, MARIA_TARGET.format(name=table))
    sql_install.connector("maria", mariadb_url).connector("dst", pg_pair.target)
    log = await relayed_and_not(
        sql_install, monkeypatch, (relayed, reference), source="maria", source_table=source, target="dst"
    )
    assert (
        "flag, count, digits, day, amount, ratio, score, key_text, key_bytes, clock, truth converted" in log
    )
    got, wanted = await pg_rows(pg_pair.target, relayed), await pg_rows(pg_pair.target, reference)
    assert len(got) == 503
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    assert got[0][1:4] == ("true", "-2147483648", -(2**63)) and got[1][3] == 42
    assert got[0][7] == "a\\b\tc" and got[1][8] == "t\tab" and got[0][13] is True
    assert got[2][1:] == (None,) * 13


@pytest.mark.parametrize("mode", ["replace", "append"])
async def test_a_value_a_conversion_from_mariadb_refuses_names_its_row_and_leaves_the_target(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, mode: str
) -> None:
    source, table = unique("mconv_bad"), unique("mconv_kept")
    await maria_execute(
        mariadb_url,
        f"CREATE TABLE {source} (id int PRIMARY KEY, label text, v varchar(10))",
        f"INSERT INTO {source} SELECT seq, CONCAT('row ', seq), IF(seq = 2000, 'twelve', seq) "
        "FROM seq_1_to_3000",
    )
    target = Target("postgresql", pg_pair.target)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, label text, v integer)")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 'kept', 1)")
    before = await target.rows(table)
    sql_install.connector("maria", mariadb_url).connector("dst", pg_pair.target)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="maria", source_table=source, target="dst", table=table, mode=mode
        )
    assert str(caught.value) == (
        "step 'load': row 2000, column 'v': value 'twelve' does not fit (varchar(10) -> integer): "
        "expected a whole number"
    )
    assert await target.rows(table) == before
    assert await target.side_tables() == []


# --- from PostgreSQL into MariaDB ------------------------------------------------------------------------

PG_SOURCE = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, flag boolean, day date, count integer, digits text, amount numeric(20,4),
  ratio double precision, r real, ident uuid, at timestamptz, clock time, truth text, data bytea,
  body text, doc jsonb, plain numeric
);
INSERT INTO {name} VALUES
 (1, true, '0001-01-01', -2147483648, '-9223372036854775808', -9999999999999999.9999, -1234567890.123456,
  -3.4028235e38, '00000000-0000-0000-0000-000000000000', '1970-01-01 00:00:00+00', '00:00:00', E' yes\\t',
  '\\x00112233445566778899aabbccddeeff', E'a\\\\b\\tc\\nd\\re', '{{"k": "v\\\\tw"}}', 120000),
 (2, false, '9999-12-31', 2147483647, ' 42 ', 0.0001, 0.30000000000000004, 1.17549435e-38,
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '2038-01-19 03:14:07.999999+05:30', '23:59:59.999999', 'off',
  '\\x12345678123456781234567812345678', 'Zoë 😀', '[]', 0.0000001),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO {name} SELECT g, g % 2 = 0, date '2024-01-01' + g, g, (g * 7)::text, g + 0.5, g / 3.0, g / 9.0,
  md5(g::text)::uuid, timestamptz '2024-01-01 00:00+02' + g * interval '1 hour',
  time '00:00' + g * interval '1 second', (ARRAY['t', '0', 'no', '1'])[g % 4 + 1],
  decode(lpad(to_hex(g), 32, '0'), 'hex'), 'row ' || g, jsonb_build_object('g', g), g * 10000
FROM generate_series(10, 509) g
"""
MARIA_TARGET_OF_PG = (
    "CREATE TABLE {name} (id int PRIMARY KEY, flag longtext, day datetime(6), count decimal(12,2), "
    "digits bigint, amount double, ratio decimal(30,20), r double, ident varchar(36), at varchar(40), "
    "clock varchar(20), truth boolean, data uuid, body longtext, doc json, plain longtext)"
)


async def test_postgres_columns_converted_on_the_way_into_mariadb_give_the_rows_of_the_python_path(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, relayed, reference = unique("pconv_src"), unique("pconv"), unique("pconv_ref")
    await pg_execute(pg_pair.source, PG_SOURCE.format(name=source))
    await maria_execute(mariadb_url, *(MARIA_TARGET_OF_PG.format(name=t) for t in (relayed, reference)))
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url)
    log = await relayed_and_not(
        sql_install, monkeypatch, (relayed, reference), source="src", source_table=source, target="maria"
    )
    assert "flag, day, count, digits, amount, ratio, r, ident, at, clock, truth, data, plain converted" in log
    select = "SELECT * FROM `{}` ORDER BY id"
    got = await mysql_fetch(mariadb_url, select.format(relayed))
    wanted = await mysql_fetch(mariadb_url, select.format(reference))
    assert len(got) == 503
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    assert got[0][1] == "true" and got[0][11] == 1 and got[0][13] == "a\\b\tc\nd\re"
    assert got[1][9] == "2038-01-18T21:44:07.999999+00:00" and got[2][1:] == (None,) * 15
    assert (got[0][15], got[1][15]) == ("1.2E+5", "1E-7")  # as asyncpg's Decimal spells them


async def test_a_value_a_conversion_into_mariadb_refuses_names_its_row_and_leaves_the_target(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall
) -> None:
    source, table = unique("pconv_bad"), unique("pconv_kept")
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} AS SELECT g AS id, 'row ' || g AS label, "
        "CASE WHEN g = 2000 THEN 'twelve' ELSE g::text END AS v FROM generate_series(1, 3000) g",
    )
    target = Target("mariadb", mariadb_url)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, label text, v int)")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 'kept', 1)")
    before = await target.rows(table)
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="src", source_table=source, target="maria", table=table
        )
    assert str(caught.value) == (
        "step 'load': row 2000, column 'v': value 'twelve' does not fit (text -> int(11)): "
        "expected a whole number"
    )
    assert await target.rows(table) == before
    assert await target.side_tables() == []
