"""The binary COPY codecs of spliced copies behave as asyncpg's, on the edge values of every type: a field
the server sends decodes to the value asyncpg returns, and the bytes written for a value load the same
row as asyncpg's own COPY of that value (its quirks included: date.max is written as infinity)."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from nomaflow.engine.steps.sql.copy_codecs import decoder, encoder
from nomaflow.engine.steps.sql.copy_splice import SIGNATURE, TRAILER
from nomaflow.engine.steps.sql.types import ValueMismatch, parse_postgres
from tests.engine.steps.conftest import PgPair

CASES: dict[str, list[str]] = {
    "boolean": ["true", "false"],
    "smallint": ["0", "-32768", "32767"],
    "integer": ["0", "-2147483648", "2147483647"],
    "bigint": ["0", "-9223372036854775808", "9223372036854775807"],
    "numeric": [
        "0",
        "10000",
        "1e20",
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "0.0001000",
        "-0.5",
        "0.00000001",
        "123456789012345678901234567890.123",
        "1.0",
        "99999999",
        "-1234.5678",
        "1e-100",
        "0.1",
        "10",
    ],
    "numeric(12,2)": ["0", "12.3", "-0.01", "1234567890.12", "100", "0.10"],
    "numeric(10,0)": ["100", "0", "-7"],
    "real": ["0", "1.5", "3.4e38", "'NaN'", "'Infinity'", "-1e-45", "0.1"],
    "double precision": ["0", "0.1", "1e308", "'-Infinity'", "5e-324", "'NaN'"],
    "text": ["''", "'Zoë — ✓ 😀 日本語'", "E'quote \\' \" \\\\ back\\nnew line\\ttab'"],
    "character varying(10)": ["'abc'"],
    "character(5)": ["'ab'"],
    "date": ["'2000-01-01'", "'infinity'", "'-infinity'", "'0001-01-01'", "'9999-12-31'", "'1999-12-31'"],
    "time": ["'00:00'", "'23:59:59.999999'", "'12:34:56.789'"],
    "timestamp": [
        "'2000-01-01'",
        "'infinity'",
        "'-infinity'",
        "'0001-01-01 00:00'",
        "'9999-12-31 23:59:59.999999'",
        "'1969-07-20 20:17:40.5'",
        "'1999-12-31 23:59:59.999999'",
    ],
    "timestamptz": [
        "'2000-01-01+00'",
        "'infinity'",
        "'-infinity'",
        "'2024-03-31 01:30:00.123456+02'",
        "'9999-12-31 23:59:59.999999+00'",
        "'1900-01-01 00:00+00'",
    ],
    "interval": [
        "'1 day'",
        "'-1 day 2 hours'",
        "'1 year 2 months 3 days 04:05:06.789'",
        "'-14 months'",
        "'0'",
        "'-00:00:01'",
    ],
    "json": ['\'{"a": [1, 2.5, "x"], "é": null}\'', "'[]'"],
    "jsonb": ['\'{"a": [1, 2.5, "x"], "é": null}\'', "'\"just a string\"'"],
    "bytea": ["''", "'\\x0001fffe'"],
    "uuid": ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
}


@pytest.fixture
async def connection(pg_pair: PgPair) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_pair.source)
    try:
        yield connection
    finally:
        await connection.close()


async def loaded_alike(connection: asyncpg.Connection, pg_type: str, values: list[Any]) -> None:
    """Our bytes for `values` and asyncpg's own COPY of them load the same rows."""
    encode = encoder(parse_postgres(pg_type))
    assert encode is not None
    await connection.execute(
        f"CREATE TEMP TABLE ours (i int, v {pg_type}); CREATE TEMP TABLE theirs (i int, v {pg_type})"
    )
    try:
        rows = [
            b"\x00\x02" + b"\x00\x00\x00\x04" + i.to_bytes(4, "big") + len(f).to_bytes(4, "big") + f
            for i, f in enumerate(encode(v) for v in values)
        ]
        data = SIGNATURE + bytes(8) + b"".join(rows) + TRAILER
        await connection.copy_to_table("ours", source=io.BytesIO(data), format="binary")
        await connection.copy_records_to_table("theirs", records=list(enumerate(values)))
        differ = await connection.fetch(
            "SELECT i, ours.v::text AS ours, theirs.v::text AS theirs FROM ours FULL JOIN theirs USING (i) "
            "WHERE ours.v::text IS DISTINCT FROM theirs.v::text"
        )
        assert [tuple(r) for r in differ] == []
    finally:
        await connection.execute("DROP TABLE ours; DROP TABLE theirs")


@pytest.mark.anyio
@pytest.mark.postgres
@pytest.mark.parametrize("pg_type", list(CASES))
async def test_each_type_reads_and_writes_as_asyncpg_does(
    connection: asyncpg.Connection, pg_type: str
) -> None:
    decode = decoder(parse_postgres(pg_type))
    assert decode is not None
    send = await connection.fetchval("SELECT typsend::text FROM pg_type WHERE oid = $1::regtype", pg_type)
    values = []
    for literal in CASES[pg_type]:
        sent, value = await connection.fetchrow(
            f"SELECT {send}(({literal})::{pg_type}), ({literal})::{pg_type}"
        )
        read = decode(sent)
        if pg_type == "uuid":
            assert str(read) == str(value), literal  # asyncpg has a UUID class of its own
        else:
            # repr: Decimal('1E+4') and Decimal('10000') are equal, only one is what asyncpg returns.
            assert repr(read) == repr(value), literal
        values.append(value)
    await loaded_alike(connection, pg_type, values)


@pytest.mark.anyio
@pytest.mark.postgres
async def test_random_numerics_read_and_write_as_asyncpg_does(connection: asyncpg.Connection) -> None:
    chance = random.Random(7)
    literals = []
    for _ in range(500):
        digits = "".join(chance.choice("0123456789") for _ in range(chance.randint(1, 40)))
        point = chance.randint(0, len(digits))
        literal = f"{digits[:point] or '0'}.{digits[point:]}" if chance.random() < 0.5 else digits
        exponent = f"e{chance.randint(-60, 60)}" if chance.random() < 0.3 else ""
        literals.append(("-" if chance.random() < 0.5 else "") + literal + exponent)
    rows = await connection.fetch(
        "SELECT v, numeric_send(v) FROM unnest($1::text[]) AS s(t), LATERAL (SELECT t::numeric AS v) AS n",
        literals,
    )
    decode = decoder(parse_postgres("numeric"))
    assert decode is not None
    assert [repr(decode(sent)) for _, sent in rows] == [repr(value) for value, _ in rows]
    # Values no server sends but a conversion can make: any exponent, negative zero, trailing zeros.
    made = [
        Decimal(f"{chance.choice('-+')}{chance.randint(0, 10**30)}E{chance.randint(-40, 40)}")
        for _ in range(500)
    ]
    made += [Decimal("-0"), Decimal("0E+5"), Decimal("1E+5"), Decimal("1.000000"), Decimal("-0.000")]
    await loaded_alike(connection, "numeric", [value for value, _ in rows] + made)


def test_writing_a_value_the_type_cannot_hold_says_what_it_expected() -> None:
    def write(pg_type: str, value: Any) -> bytes:
        encode = encoder(parse_postgres(pg_type))
        assert encode is not None
        return encode(value)

    with pytest.raises(ValueMismatch, match=r"from -32768 to 32767 \(smallint\)"):
        write("smallint", 32768)
    with pytest.raises(ValueMismatch, match=r"from -2147483648 to 2147483647 \(integer\)"):
        write("integer", -(2**31) - 1)
    with pytest.raises(ValueMismatch, match="within the range of real"):
        write("real", 1e39)
    with pytest.raises(TypeError, match="a boolean is required"):
        write("boolean", 1)
    with pytest.raises(TypeError, match="expected str"):
        write("text", 1)
    with pytest.raises(ValueError, match="exponent is too small"):
        write("numeric", Decimal("1E-20000"))
    assert write("smallint", True) == b"\x00\x01"  # as asyncpg: anything with __int__


def test_types_outside_the_map_have_no_codec() -> None:
    for declared in ("integer[]", "point", "time with time zone", "money"):
        assert decoder(parse_postgres(declared)) is None
        assert encoder(parse_postgres(declared)) is None
