"""copy_fields on its own: where a converted column sits among MariaDB's text parts, how a batch of
parts or of PostgreSQL's COPY text becomes lines with the converted values spelled, how PostgreSQL's text
is read back as asyncpg's values, and how a refused value is named by its row."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from nomaflow.engine.steps.sql.copy_fields import (
    PythonField,
    Refused,
    lines,
    load_lines,
    parts_of,
    read_from_postgres,
)
from nomaflow.engine.steps.sql.copy_text import LineTooLong
from nomaflow.engine.steps.sql.types import Kind
from nomaflow.engine.steps.sql.values import to_kind


def field(index: int, kind: Kind) -> PythonField:
    return PythonField(index, f"c{index}", to_kind(kind), f"text -> {kind}", kind)


def test_each_converted_column_is_its_own_part_and_each_run_of_others_one_part() -> None:
    assert parts_of([1], 3) == {1: 1}  # text, value, text
    assert parts_of([0, 1], 3) == {0: 0, 1: 1}  # value, value, text
    assert parts_of([0, 3], 4) == {0: 0, 3: 2}  # value, text (1 and 2), value
    assert parts_of([], 2) == {}


def test_a_batch_of_parts_becomes_lines_with_the_values_spelled() -> None:
    rows = [("1\ta", "true", b"x"), ("2\t\\N", None, b"y\\tz"), ("3\tc", " NO ", b"")]
    got = lines(rows, {1: field(1, Kind.BOOLEAN)}, 0)
    assert got == b"1\ta\tt\tx\n2\t\\N\t\\N\ty\\tz\n3\tc\tf\t\n"
    assert lines([], {}, 0) == b""


def test_a_text_part_mariadb_could_not_write_names_its_row() -> None:
    with pytest.raises(LineTooLong, match="row 12: longer"):
        lines([("1", "t"), (None, "t")], {1: field(1, Kind.BOOLEAN)}, 10)


def test_a_refused_value_names_its_row_column_and_value() -> None:
    with pytest.raises(Refused) as caught:
        lines([("1", "7"), ("2", "seven")], {1: field(1, Kind.INTEGER)}, 40)
    assert str(caught.value) == (
        "row 42, column 'c1': value 'seven' does not fit (text -> integer): expected a whole number"
    )


def test_converted_values_are_spelled_as_copy_text_reads_them() -> None:
    spelled = [
        (Kind.TEXT, "a\\b\tc\nd\re\x0cf", "a\\\\b\\tc\\nd\\re\x0cf"),
        (Kind.DOUBLE, "1e400", "inf"),
        (Kind.DOUBLE, "0.1", "0.1"),
        (Kind.NUMERIC, "1E-7", "1E-7"),
        (Kind.TIMESTAMPTZ, "2024-01-01T05:30:00+05:30", "2024-01-01 05:30:00+05:30"),
        (Kind.UUID, "{12345678-1234-5678-1234-567812345678}", "12345678-1234-5678-1234-567812345678"),
    ]
    for kind, value, text in spelled:
        assert field(0, kind).spell(value) == text, kind
    assert field(0, Kind.BINARY).spell(b"\x00\xff") == "\\\\x00ff"
    assert field(0, Kind.TEXT).field(None) is None


def test_postgres_copy_text_is_read_as_asyncpg_gives_the_value() -> None:
    # In the spellings the source query asks for (copy_sqlite_text): floats and bytes in hex, zoned
    # instants in UTC.
    read = {
        Kind.BOOLEAN: ("t", True),
        Kind.BIGINT: ("-9223372036854775808", -(2**63)),
        Kind.NUMERIC: ("NaN", None),  # NaN equals nothing: checked below
        Kind.REAL: (struct.pack(">d", -3.4028234663852886e38).hex(), -3.4028234663852886e38),
        Kind.TEXT: ("a\\\\b\\tc\\nd\\re\\bf\\fg\\vh", "a\\b\tc\nd\re\bf\fg\vh"),
        Kind.JSON: ('{"k": "v\\\\tw"}', '{"k": "v\\tw"}'),
        Kind.DATE: ("0001-01-01", date(1, 1, 1)),
        Kind.TIME: ("23:59:59.999999", time(23, 59, 59, 999999)),
        Kind.TIMESTAMP: ("2024-06-01 12:00:00.5", datetime(2024, 6, 1, 12, 0, 0, 500000)),
        Kind.TIMESTAMPTZ: ("2038-01-19 03:14:07.999999+00:00", datetime(2038, 1, 19, 3, 14, 7, 999999, UTC)),
        Kind.BINARY: ("00ff", b"\x00\xff"),
        Kind.UUID: ("ffffffff-ffff-ffff-ffff-ffffffffffff", uuid.UUID(int=2**128 - 1)),
    }
    for kind, (text, value) in read.items():
        reader = read_from_postgres(kind)
        assert reader is not None, kind
        if kind is Kind.NUMERIC:
            assert reader(text).is_nan() and isinstance(reader(text), Decimal)
        else:
            assert reader(text) == value, kind
    assert read_from_postgres(Kind.INTERVAL) is None and read_from_postgres(Kind.OTHER) is None


def test_postgres_lines_get_their_converted_columns_for_load_data() -> None:
    reading = read_from_postgres(Kind.BOOLEAN)
    assert reading is not None
    flag = PythonField(
        1, "flag", lambda text: to_kind(Kind.TEXT)(reading(text)), "boolean -> text", Kind.TEXT
    )
    data = "1\tt\tZoë\\tx\n2\t\\N\t\\N\n3\tf\t\n".encode()
    assert load_lines(data, {1: flag}, 0) == "1\ttrue\tZoë\\tx\n2\t\\N\t\\N\n3\tfalse\t\n".encode()
    assert load_lines(b"", {1: flag}, 0) == b""
    bad = PythonField(1, "n", lambda text: to_kind(Kind.INTEGER)(text), "text -> int", Kind.INTEGER)
    with pytest.raises(Refused, match=r"^row 7, column 'n': value 'x' does not fit"):
        load_lines(b"1\t5\n2\tx\n", {1: bad}, 5)
