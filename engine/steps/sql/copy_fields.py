"""Columns converted in Python inside the SQLite -> PostgreSQL text relay: SQLite writes each row as a
line of COPY text (copy_text.sqlite_select), and calls a `PythonField` for each column whose kind the
copy changes. The field runs the plan's conversion, the one the way of Python values runs, and spells
the result as PostgreSQL's COPY text reads it. One converted column then costs one function call a
value instead of sending every column of every row through Python.

Pure: no database here; the pipeline registers the fields on the source connection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from nomaflow.engine.steps.sql.types import INTEGERS, TEXTS, Convert, Kind

# The characters COPY text escapes in a field (the rest, \b \f \v included, it reads as they are).
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    # Four scans for the rare character cost less than one translate() of every character.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _boolean(value: bool) -> str:
    return "t" if value else "f"


def _instant(value: datetime) -> str:
    return value.isoformat(sep=" ")  # an aware value keeps its offset, which PostgreSQL reads


def _iso(value: date | time) -> str:
    return value.isoformat()


def _binary(value: bytes) -> str:
    return "\\\\x" + value.hex()  # bytea's hex form, its backslash escaped for COPY


# What each target kind's canonical Python value is as a field of COPY text. Not here: interval (no
# spelling of a timedelta that PostgreSQL reads back as the same interval is worth the risk) and the
# types the map does not know; a copy converting into those takes the way of Python values.
_SPELLINGS: dict[Kind, Callable[[Any], str]] = {
    Kind.BOOLEAN: _boolean,
    **dict.fromkeys(INTEGERS, str),
    Kind.NUMERIC: str,  # PostgreSQL reads Decimal's exponent form (1E-7) and NaN/Infinity
    Kind.REAL: repr,  # the shortest exact spelling; inf and nan read as such
    Kind.DOUBLE: repr,
    **dict.fromkeys(TEXTS, _text),
    Kind.JSON: _text,  # canonical JSON is its text
    Kind.DATE: _iso,
    Kind.TIME: _iso,
    Kind.TIMESTAMP: _instant,
    Kind.TIMESTAMPTZ: _instant,
    Kind.BINARY: _binary,
    Kind.UUID: str,
}


def spelled(kind: Kind) -> bool:
    """Whether a converted value of `kind` can be written as COPY text here."""
    return kind in _SPELLINGS


class PythonField:
    """One converted column, as a one-argument SQL function: NULL stays NULL (the line spells it \\N),
    any other value is converted and spelled as COPY text. A value that does not convert is kept in
    `failure` with its error, and the error raised: SQLite then fails the statement, and the pipeline
    names the value's row (`row_of`)."""

    def __init__(self, index: int, column: str, convert: Convert, described: str, kind: Kind) -> None:
        self.index, self.column, self.convert, self.described = index, column, convert, described
        self.name = f"nf_convert_{index}"
        self.failure: tuple[Any, Exception] | None = None
        spell, convert = _SPELLINGS[kind], self.convert

        def field(value: Any) -> str | None:
            if value is None:
                return None
            try:
                return spell(convert(value))
            except (ValueError, TypeError, ArithmeticError) as exc:
                self.failure = (value, exc)
                raise

        self.field = field

    def refusal(self, value: Any) -> Exception | None:
        """Why this column's conversion refuses `value`, or None (used to find the failing row)."""
        try:
            self.field(value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            return exc
        return None
