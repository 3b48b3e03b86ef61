"""sql_copy between PostgreSQL and MariaDB as the servers' text (copy_text): the same rows as the way of
Python values, for every type it carries, at their extremes, with NULLs, unicode and every character a
text format escapes; a value the target refuses fails the copy naming its row and column, and leaves the
target as it was.

Each value test copies the same source twice, once relayed and once with the relay turned off, and
compares the two tables: the Python path is the reference the round-trip tests hold to the originals.
"""

from __future__ import annotations

from typing import Any

import anyio
import asyncmy
import asyncpg
import pytest
from sqlalchemy.engine import make_url

import nomaflow.engine.steps.sql.copy_plan as copy_plan
from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.engine.steps.sql.copy_text import mariadb_select
from nomaflow.engine.steps.sql.names import Column
from nomaflow.engine.steps.sql.types import parse_mysql, parse_postgres
from tests.engine.steps.conftest import Logged, PgPair, SqlInstall
from tests.engine.steps.sql.test_copy_extremes import maria_execute
from tests.engine.steps.sql.test_copy_failures import Target, copy_while
from tests.engine.steps.sql.test_copy_roundtrip import mysql_fetch, pg_execute, unique

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

# Every character either text format escapes or may misread: backslash, tab, newline, CR, backspace,
# form feed, vertical tab, and \N spelled out as text.
AWKWARD = r"(E'a\\b\tc\nd\re\bf\fg' || chr(11) || E'h \\N \\t end')"

PG_SOURCE = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, small smallint, big bigint, amount numeric(12,2), wide numeric(30,10),
  ratio double precision, r real, label varchar(40), body text, day date, moment time, at timestamp,
  at_tz timestamptz, flag boolean, doc jsonb, data bytea, ident uuid
);
INSERT INTO {name} VALUES
 (1, -32768, -9223372036854775808, -9999999999.99, -99999999999999999999.9999999999,
  -1.7976931348623157e308, -3.4028235e38, '', '', '1000-01-01', '00:00:00', '1000-01-01 00:00:00',
  '1970-01-01 00:00:00+00', false, '{{}}', '', '00000000-0000-0000-0000-000000000000'),
 (2, 32767, 9223372036854775807, 9999999999.99, 99999999999999999999.9999999999,
  2.2250738585072014e-308, 1.17549435e-38, repeat('é', 40), {awkward} || ' Zoë 😀 日本語', '9999-12-31',
  '23:59:59.999999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999+00', true,
  '{{"s": "tab\\there \\\\ \\"q\\"", "u": "é😀"}}', '\\x005c090a0d0c0bff',
  'ffffffff-ffff-ffff-ffff-ffffffffffff'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO {name} SELECT g, g % 1000, g::bigint * 1000003, g / 100.0, g / 3.0, g / 7.0, g / 9.0,
  'row ' || g, repeat({awkward}, 8) || g, date '2024-01-01' + g, time '00:00' + g * interval '1 second',
  timestamp '2024-01-01' + g * interval '1.5 second',
  timestamptz '2024-01-01 00:00+02' + g * interval '1 hour',
  g % 2 = 0, jsonb_build_object('g', g, 't', E'x\\ty'), int4send(g), md5(g::text)::uuid
FROM generate_series(10, 3009) g
"""

MARIA_SOURCE = (
    "CREATE TABLE {name} (id int PRIMARY KEY, tiny tinyint, small smallint, big bigint, "
    "amount decimal(12,2), wide decimal(30,10), ratio double, f float, label varchar(40), body longtext, "
    "doc json, day date, "
    "moment time(6), at datetime(6), at_ts timestamp(6) NULL, flag boolean, data longblob, ident uuid)",
    "INSERT INTO {name} VALUES "
    "(1, -128, -32768, -9223372036854775808, -9999999999.99, -99999999999999999999.9999999999, "
    "-1.7976931348623157e308, -3.40282e38, '', '', '{{}}', '1000-01-01', '00:00:00', '1000-01-01 00:00:00', "
    "'1970-01-01 00:00:01', false, '', '00000000-0000-0000-0000-000000000000'), "
    "(2, 127, 32767, 9223372036854775807, 9999999999.99, 99999999999999999999.9999999999, "
    "2.2250738585072014e-308, 1.17549e-38, REPEAT('é', 40), "
    "CONCAT('a\\\\b\\tc\\nd\\re\\bf', CHAR(12), 'g', CHAR(11), 'h \\\\N \\\\t end Zoë 😀 日本語'), "
    '\'{{"s": "tab\\\\there \\\\\\\\ \\\\"q\\\\"", "u": "é😀"}}\', \'9999-12-31\', \'23:59:59.999999\', '
    "'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', true, x'005c090a0d0c0bff', "
    "'ffffffff-ffff-ffff-ffff-ffffffffffff'), "
    "(3" + ", NULL" * 17 + ")",
    "INSERT INTO {name} SELECT seq, seq % 100, seq % 1000, seq * 1000003, seq / 100, seq / 3, seq / 7, "
    "seq / 9, "
    "CONCAT('row ', seq), CONCAT(REPEAT('a\\\\b\\tc\\nd\\re', 8), seq), JSON_OBJECT('g', seq, 't', 'x\\ty'), "
    "'2024-01-01' + INTERVAL seq DAY, SEC_TO_TIME(seq), '2024-01-01' + INTERVAL seq * 1.5 SECOND, "
    "'2024-01-01' + INTERVAL seq HOUR, seq % 2 = 0, UNHEX(HEX(seq)), UUID() FROM seq_10_to_3009",
)

PG_TARGET = """
CREATE TABLE {name} (
  id integer PRIMARY KEY, tiny smallint, small smallint, big bigint, amount numeric(12,2),
  wide numeric(30,10), ratio double precision, f real, label varchar(40), body text, doc jsonb, day date,
  moment time, at timestamp, at_ts timestamptz, flag boolean, data bytea, ident uuid
)"""


def relay_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every copy after this takes the way of Python values."""
    monkeypatch.setattr(copy_plan.Planner, "_relayed", lambda self, plan: False)


async def pg_rows(url: str, table: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await connection.fetch(f"SELECT * FROM {table} ORDER BY id")]
    finally:
        await connection.close()


async def test_postgres_to_mariadb_gives_the_rows_of_the_python_path(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, relayed, reference = unique("txt_src"), unique("relayed"), unique("reference")
    await pg_execute(pg_pair.source, PG_SOURCE.format(name=source, awkward=AWKWARD))
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url)
    log = Logged()
    out = await sql_install.run(
        "sql_copy", source="src", source_table=source, target="maria", table=relayed, create=True, log=log
    )
    assert out["rows"] == 3003 and out["text_relay"] is True
    assert "the rows go from server to server as text" in log.text
    relay_off(monkeypatch)
    out = await sql_install.run(
        "sql_copy", source="src", source_table=source, target="maria", table=reference, create=True
    )
    assert out["rows"] == 3003 and out["text_relay"] is False
    select = "SELECT * FROM `{}` ORDER BY id"
    got, wanted = (
        await mysql_fetch(mariadb_url, select.format(relayed)),
        await mysql_fetch(mariadb_url, select.format(reference)),
    )
    assert len(got) == 3003
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    # And the awkward text is the original's, character for character.
    original = await pg_rows(pg_pair.source, source)
    assert got[1][8] == original[1][8] and "\f" in got[1][8] and "\v" in got[1][8] and "\\N" in got[1][8]
    assert got[1][15] == b"\x00\x5c\x09\x0a\x0d\x0c\x0b\xff" and got[2][1:] == (None,) * 16


async def test_mariadb_to_postgres_gives_the_rows_of_the_python_path(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, relayed, reference = unique("txt_src"), unique("relayed"), unique("reference")
    await maria_execute(mariadb_url, *(s.format(name=source) for s in MARIA_SOURCE))
    for table in (relayed, reference):
        await pg_execute(pg_pair.target, PG_TARGET.format(name=table))
    sql_install.connector("maria", mariadb_url).connector("dst", pg_pair.target)
    out = await sql_install.run("sql_copy", source="maria", source_table=source, target="dst", table=relayed)
    assert out["rows"] == 3003 and out["text_relay"] is True
    relay_off(monkeypatch)
    out = await sql_install.run(
        "sql_copy", source="maria", source_table=source, target="dst", table=reference
    )
    assert out["rows"] == 3003 and out["text_relay"] is False
    got, wanted = await pg_rows(pg_pair.target, relayed), await pg_rows(pg_pair.target, reference)
    assert len(got) == 3003
    for mine, theirs in zip(got, wanted, strict=True):
        assert mine == theirs, f"row {mine[0]} differs"
    assert got[1][9] == "a\\b\tc\nd\re\bf\fg\vh \\N \\t end Zoë 😀 日本語"
    assert got[1][16] == b"\x00\x5c\x09\x0a\x0d\x0c\x0b\xff" and got[2][1:] == (None,) * 17


BAD_VALUES = {
    # (source column, target column): row 2000 does not fit
    "smallint": ("CASE WHEN g = 2000 THEN 70000 ELSE g END", "smallint"),
    "varchar": ("CASE WHEN g = 2000 THEN 'too long' ELSE 'ok' END", "varchar(3)"),
}


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize("mode", ["replace", "append"])
async def test_a_value_mariadb_refuses_names_its_row_and_column_and_leaves_the_target(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, bad: str, mode: str
) -> None:
    value, column_type = BAD_VALUES[bad]
    source, table = unique("bad_src"), unique("kept")
    source_type = "integer" if bad == "smallint" else "text"
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} AS SELECT g::bigint AS id, ({value})::{source_type} AS v "
        "FROM generate_series(1, 3000) g",
    )
    target = Target("mariadb", mariadb_url)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v {column_type})")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 1), (-2, 2)")
    before = await target.rows(table)
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="src", source_table=source, target="maria", table=table, mode=mode
        )
    message = str(caught.value)
    assert message.startswith("step 'load': row 2000, column 'v': the target refused the value"), message
    assert await target.rows(table) == before
    assert await target.side_tables() == []


@pytest.mark.parametrize("mode", ["replace", "upsert"])
async def test_a_value_postgres_refuses_names_its_row_and_column_and_leaves_the_target(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall, mode: str
) -> None:
    source, table = unique("bad_src"), unique("kept")
    await maria_execute(
        mariadb_url,
        f"CREATE TABLE {source} AS SELECT seq AS id, CAST(IF(seq = 2000, 70000, seq) AS SIGNED) AS v "
        "FROM seq_1_to_3000",
    )
    target = Target("postgresql", pg_pair.target)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v smallint)")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 1), (-2, 2)")
    before = await target.rows(table)
    sql_install.connector("maria", mariadb_url).connector("dst", pg_pair.target)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy",
            step="load",
            source="maria",
            source_table=source,
            target="dst",
            table=table,
            mode=mode,
            key=["id"] if mode == "upsert" else [],
        )
    message = str(caught.value)
    assert message.startswith("step 'load': row 2000, column 'v': the target refused the value"), message
    assert "70000" in message and "smallint" in message
    assert await target.rows(table) == before
    assert await target.side_tables() == []


async def test_a_duplicate_key_fails_the_load_instead_of_being_skipped(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall
) -> None:
    # LOAD DATA LOCAL would skip the second row with id 7 and carry on, as if IGNORE were given.
    source, table = unique("dup_src"), unique("kept")
    await pg_execute(
        pg_pair.source,
        f"CREATE TABLE {source} AS SELECT least(g, 7)::bigint AS id, g::bigint AS v "
        "FROM generate_series(1, 8) g",
    )
    target = Target("mariadb", mariadb_url)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v bigint)")
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url)
    with pytest.raises(PermanentStepFailure, match=r"refused the value: \(1062\) Duplicate entry '7'"):
        await sql_install.run(
            "sql_copy", step="load", source="src", source_table=source, target="maria", table=table
        )
    assert await target.rows(table) == []
    assert await target.side_tables() == []


async def test_mariadb_writes_the_same_lines_under_no_backslash_escapes(mariadb_url: str) -> None:
    source = unique("escapes")
    await maria_execute(
        mariadb_url,
        f"CREATE TABLE {source} (t longtext, b blob, n int)",
        f"INSERT INTO {source} VALUES ('a\\\\b\\tc\\nd\\re', x'5c00', NULL), (NULL, NULL, 1)",
    )
    columns = [Column("t", parse_mysql("longtext")), Column("b", parse_mysql("blob"))]
    columns.append(Column("n", parse_mysql("int")))
    targets = [parse_postgres("text"), parse_postgres("bytea"), parse_postgres("integer")]
    parsed = make_url(mariadb_url)
    connection = await asyncmy.connect(
        host=parsed.host, port=parsed.port or 3306, user=parsed.username, database=parsed.database
    )
    lines = []
    try:
        async with connection.cursor() as cursor:
            for backslashes in (True, False):
                if not backslashes:
                    await cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
                quote = "`{}`".format
                await cursor.execute(
                    mariadb_select(columns, targets, quote, f"SELECT * FROM {source}", backslashes)
                )
                lines.append([r[0] for r in await cursor.fetchall()])
    finally:
        connection.close()
    assert lines[0] == lines[1] == ["a\\\\b\\tc\\nd\\re\t\\\\x5C00\t\\N", "\\N\t\\N\t1"]


async def test_a_killed_mariadb_source_leaves_the_postgres_target_as_it_was(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall
) -> None:
    table = unique("victim")
    target = Target("postgresql", pg_pair.target)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v bigint)")
    await target.execute(f"INSERT INTO {table} VALUES (-1, 1), (-2, 2)")
    before = await target.rows(table)
    # Two million rows take seconds; the first progress line, at 1,000, is the signal to kill the source.
    sql_install.queries(
        "app", "many.sql", "-- name: many-rows\nSELECT seq AS id, seq AS v FROM seq_1_to_2000000\n"
    )
    sql_install.connector("maria", mariadb_url).connector("dst", pg_pair.target)
    progressed = anyio.Event()
    log = Logged(
        on_line=lambda level, message, fields: progressed.set() if "rows copied" in message else None
    )

    async def kill_source() -> None:
        await progressed.wait()
        parsed = make_url(mariadb_url)
        admin = await asyncmy.connect(
            host=parsed.host, port=parsed.port or 3306, user=parsed.username, autocommit=True
        )
        try:
            async with admin.cursor() as cursor:
                await cursor.execute(
                    "SELECT id FROM information_schema.processlist WHERE info LIKE '%%nf_line%%' "
                    "AND id <> CONNECTION_ID()"
                )
                for (connection_id,) in await cursor.fetchall():
                    await cursor.execute(f"KILL CONNECTION {int(connection_id)}")
        finally:
            admin.close()

    errors = await copy_while(
        sql_install,
        kill_source,
        within=30,
        source="maria",
        query="many-rows",
        target="dst",
        table=table,
        log=log,
    )
    assert "the rows go from server to server as text" in log.text
    assert len(errors) == 1
    assert not isinstance(errors[0], PermanentStepFailure), "a lost connection is worth another attempt"
    # "(2013) Lost connection", or asyncmy's "Packet sequence number wrong" when the server's last packet
    # comes in the middle of a result.
    assert "step 'load'" in str(errors[0]), str(errors[0])
    assert await target.rows(table) == before
    assert await target.side_tables() == []


async def test_an_empty_source_relays_no_rows_either_way(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall
) -> None:
    source, there, back = unique("empty"), unique("there"), unique("back")
    await pg_execute(pg_pair.source, f"CREATE TABLE {source} (id bigint, name text)")
    await pg_execute(pg_pair.target, f"CREATE TABLE {back} (id bigint, name text)")
    sql_install.connector("src", pg_pair.source).connector("maria", mariadb_url)
    sql_install.connector("dst", pg_pair.target)
    out = await sql_install.run(
        "sql_copy", source="src", source_table=source, target="maria", table=there, create=True
    )
    assert (out["rows"], out["text_relay"]) == (0, True)
    out = await sql_install.run("sql_copy", source="maria", source_table=there, target="dst", table=back)
    assert (out["rows"], out["text_relay"]) == (0, True)
    assert await mysql_fetch(mariadb_url, f"SELECT count(*) FROM `{there}`") == [(0,)]
