"""The pure parts of the text relay between PostgreSQL and MariaDB: what can be relayed, the byte fixes
between the two text formats, and the servers' complaints turned into a row and a column."""

from __future__ import annotations

import asyncpg
import pytest

from nomaflow.engine.steps.sql.copy_text import (
    LineTooLong,
    WholeLines,
    copy_lines,
    for_load_data,
    mariadb_rejection,
    postgres_rejection,
    relayable,
)
from nomaflow.engine.steps.sql.types import Kind, SqlType


def t(kind: Kind) -> SqlType:
    return SqlType(kind, kind.value)


def test_a_column_is_relayed_when_its_text_means_the_same_value_on_the_other_side() -> None:
    assert relayable(t(Kind.INTEGER), t(Kind.BIGINT)) and relayable(t(Kind.BIGINT), t(Kind.SMALLINT))
    assert relayable(t(Kind.TEXT), t(Kind.JSON)) and relayable(t(Kind.JSON), t(Kind.VARCHAR))
    assert relayable(t(Kind.TIMESTAMPTZ), t(Kind.TIMESTAMP))  # naive values are UTC on both sides
    assert not relayable(t(Kind.DATE), t(Kind.TIMESTAMP))
    assert not relayable(t(Kind.BOOLEAN), t(Kind.TEXT))  # 'true' in Python, 't' or '1' as text
    assert not relayable(t(Kind.INTERVAL), t(Kind.INTERVAL)) and not relayable(t(Kind.OTHER), t(Kind.OTHER))


def test_whole_lines_never_split_a_row_or_an_escape() -> None:
    lines = WholeLines()
    assert lines.feed(bytearray(b"1\ta\\")) == b""
    assert lines.feed(b"fb\n2\t") == b"1\ta\\fb\n"
    assert lines.feed(b"c\n3\td\n") == b"2\tc\n3\td\n" and lines.tail == b""


def test_form_feed_and_vertical_tab_become_the_characters_load_data_cannot_unescape() -> None:
    assert for_load_data(b"a\\tb\\\\c\n") == b"a\\tb\\\\c\n"  # nothing to do: the same bytes
    assert for_load_data(b"x\\fy\\vz\\\\f\\\\\\v\n") == b"x\x0cy\x0bz\\\\f\\\\\x0b\n"


def test_mariadb_lines_join_into_copy_text_and_an_overlong_row_is_named() -> None:
    assert copy_lines([("1\ta",), ("2\t\\N",)], 0) == b"1\ta\n2\t\\N\n"
    assert copy_lines([(b"1\ta",)], 0) == b"1\ta\n" and copy_lines([], 0) == b""
    with pytest.raises(LineTooLong, match="row 12: longer"):
        copy_lines([("1",), (None,)], 10)


def test_a_load_data_warning_names_the_row_and_column() -> None:
    message = "Incorrect integer value: 'x' for column `db`.`t`.`v` at row 7"
    assert (
        mariadb_rejection(1366, message)
        == f"row 7, column 'v': the target refused the value: (1366) {message}"
    )
    assert mariadb_rejection(1265, "Data truncated for column 'v' at row 2").startswith("row 2, column 'v': ")
    assert mariadb_rejection(1261, "Row 3 doesn't contain data for all columns").startswith("row 3: ")
    assert mariadb_rejection(1062, "Duplicate entry '1' for key 'PRIMARY'").startswith("the target refused")


def test_a_copy_error_names_the_row_and_column_and_other_errors_are_left_alone() -> None:
    reason = 'value "70000" is out of range for type smallint'
    refused = asyncpg.exceptions.NumericValueOutOfRangeError(reason)
    refused.context = 'COPY kept, line 2000, column v: "70000"'
    assert postgres_rejection(refused) == f"row 2000, column 'v': the target refused the value: {reason}"
    lost = asyncpg.exceptions.AdminShutdownError("terminating connection")
    lost.context = "COPY kept, line 12"
    assert postgres_rejection(lost) is None and postgres_rejection(ValueError("x")) is None
