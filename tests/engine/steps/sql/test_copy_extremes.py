"""sql_copy in each cross-database direction with every type the map carries there, at the smallest and
largest values the three databases share, NULLs, unicode and the characters a text format must escape,
plus a few thousand ordinary rows so that every batch and stream boundary is crossed.

PostgreSQL -> MariaDB -> PostgreSQL and PostgreSQL -> SQLite -> PostgreSQL: each leg creates its table
from the type map, and the rows that come back must equal the originals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.steps.conftest import Logged, PgPair, SqlInstall
from tests.engine.steps.sql.test_copy_roundtrip import mysql_fetch, pg_execute, unique

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

# The latest instant is a microsecond before Python's datetime.max, which asyncpg writes as 'infinity'.
# Types both MariaDB and SQLite take back as themselves. (interval has no MariaDB type; real is left out
# because MariaDB's FLOAT prints 7 digits back, which another float4 need not round to the same value.)
DDL = """
CREATE TABLE {name} (
  id integer PRIMARY KEY,
  small smallint, normal integer, big bigint,
  amount numeric(12,2), wide numeric(30,10), ratio double precision,
  label varchar(40), body text,
  day date, moment time, at timestamp, at_tz timestamptz,
  flag boolean, doc jsonb, data bytea, ident uuid
)"""

COLUMNS = (
    "id, small, normal, big, amount, wide, ratio, label, body, day, moment, at, at_tz, flag, doc, data, ident"
)

EXTREMES = r"""
INSERT INTO {name} VALUES
 (1, -32768, -2147483648, -9223372036854775808, -9999999999.99, -99999999999999999999.9999999999,
  -1.7976931348623157e308, '', '', '1000-01-01', '00:00:00', '1000-01-01 00:00:00',
  '1000-01-01 00:00:00+00', false, '{{}}', '', '00000000-0000-0000-0000-000000000000'),
 (2, 32767, 2147483647, 9223372036854775807, 9999999999.99, 99999999999999999999.9999999999,
  1.7976931348623157e308, repeat('é', 40), repeat('日本語 ', 2000), '9999-12-31', '23:59:59.999999',
  '9999-12-31 23:59:59.999998', '9999-12-31 23:59:59.999998+00', true,
  '{{"deep": [[[{{"x": null}}]]], "s": "tab\there \\ \"q\""}}', '\x00ff5c090a0d',
  'ffffffff-ffff-ffff-ffff-ffffffffffff'),
 (3, 0, 0, 0, 0.00, 0.0000000001, 5e-324, E'tab\there\nnew line\\back\rcr',
  E'NUL-free but \\N and \\t as text; quote '' " and 😀', '2000-02-29', '12:00:00', '2000-02-29 12:00:00.5',
  '2000-02-29 12:00:00.5+05:30', true, '"a string"', '\x5c4e', '123e4567-e89b-12d3-a456-426614174000'),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""

ORDINARY = """
INSERT INTO {name} SELECT g, g % 1000, g * 7, g::bigint * 1000003, g / 100.0, g / 3.0, g / 7.0,
  'row ' || g, 'Zoë ' || g, date '2024-01-01' + g, time '00:00' + g * interval '1 second',
  timestamp '2024-01-01' + g * interval '1 minute', timestamptz '2024-01-01 00:00+00' + g * interval '1 hour',
  g % 2 = 0, jsonb_build_object('g', g), int4send(g), md5(g::text)::uuid
FROM generate_series(10, 3009) g
"""


async def rows_of(url: str, table: str) -> list[tuple[object, ...]]:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await connection.fetch(f"SELECT {COLUMNS} FROM {table} ORDER BY id")]
    finally:
        await connection.close()


async def maria_execute(url: str, *statements: str) -> None:
    import asyncmy
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = await asyncmy.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        database=parsed.database,
        autocommit=True,
    )
    try:
        async with connection.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture
async def extremes(pg_pair: PgPair) -> str:
    name = unique("extremes")
    await pg_execute(pg_pair.source, DDL.format(name=name))
    await pg_execute(pg_pair.source, EXTREMES.format(name=name))
    await pg_execute(pg_pair.source, ORDINARY.format(name=name))
    return name


@pytest.fixture(params=["mariadb", "sqlite"])
def middle(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of the database the rows go through."""
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return f"sqlite:///{tmp_path / 'x.db'}"


async def test_every_type_at_its_extremes_goes_there_and_back(
    pg_pair: PgPair, extremes: str, sql_install: SqlInstall, middle: str
) -> None:
    sql_install.connector("src", pg_pair.source).connector("mid", middle).connector("dst", pg_pair.target)
    there, back = unique("there"), unique("back")
    # There (PostgreSQL -> MariaDB/SQLite), creating the table, then replacing it (the staging path).
    for create in (True, False):
        out = await sql_install.run(
            "sql_copy", source="src", source_table=extremes, target="mid", table=there, create=create
        )
        assert out["rows"] == 3004
    # And back (MariaDB/SQLite -> PostgreSQL), into a table of the original types.
    await pg_execute(pg_pair.target, DDL.format(name=back))
    out = await sql_install.run("sql_copy", source="mid", source_table=there, target="dst", table=back)
    assert out["rows"] == 3004
    original, returned = await rows_of(pg_pair.source, extremes), await rows_of(pg_pair.target, back)
    for before, after in zip(original, returned, strict=True):
        assert after == before, f"{middle}: row {before[0]} came back changed"


async def test_without_local_infile_mariadb_is_loaded_with_inserts(
    pg_pair: PgPair, extremes: str, sql_install: SqlInstall, mariadb_url: str
) -> None:
    # ?local_infile=0: the client does not offer LOCAL INFILE, so the server refuses LOAD DATA LOCAL, as
    # a MySQL 8 server does by default. The copy says so and loads the same rows with INSERTs.
    sql_install.connector("src", pg_pair.source).connector("mid", f"{mariadb_url}?local_infile=0")
    sql_install.connector("dst", pg_pair.target)
    there, back = unique("there"), unique("back")
    log = Logged()
    out = await sql_install.run(
        "sql_copy", source="src", source_table=extremes, target="mid", table=there, create=True, log=log
    )
    assert out["rows"] == 3004
    assert "LOAD DATA LOCAL INFILE is not allowed here" in log.text and "loading with INSERTs" in log.text
    await pg_execute(pg_pair.target, DDL.format(name=back))
    await sql_install.run("sql_copy", source="mid", source_table=there, target="dst", table=back)
    assert await rows_of(pg_pair.target, back) == await rows_of(pg_pair.source, extremes)


async def test_mariadb_types_the_map_does_not_know_copy_between_mariadb_databases(
    sql_install: SqlInstall, mariadb_url: str
) -> None:
    # bit and year have no logical type: copied as themselves, with INSERTs (LOAD DATA's text form of
    # them is not one the map knows how to write).
    source, copied = unique("odd"), unique("odd_copy")
    await maria_execute(
        mariadb_url,
        f"CREATE TABLE {source} (id int, mask bit(8), born year)",
        f"INSERT INTO {source} VALUES (1, b'10100101', 1901), (2, NULL, 2155)",
    )
    sql_install.connector("maria", mariadb_url)
    out = await sql_install.run(
        "sql_copy", source="maria", source_table=source, target="maria", table=copied, create=True
    )
    assert out["rows"] == 2
    select = "SELECT id, mask, born FROM {} ORDER BY id"
    assert await mysql_fetch(mariadb_url, select.format(copied)) == [(1, b"\xa5", 1901), (2, None, 2155)]
