"""Columns converted in Python inside a text relay (copy_text). The source writes each row as a line of
text, except the columns whose kind the copy changes: a `PythonField` runs the plan's conversion on
those, the one the way of Python values runs, and spells the result as the target reads it. SQLite calls
the field as a SQL function while it writes the line; from MariaDB the converted columns come as values
between runs of text, joined here (`lines`); from PostgreSQL they come in its own COPY text, read back as
the values asyncpg gives (`load_lines`). One converted column then costs one conversion a value, instead
of sending every column of every row through Python.

Pure: no database here; the pipeline registers the fields on a SQLite connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from nomaflow.engine.steps.sql.copy_sqlite_text import postgres_text, unescaped
from nomaflow.engine.steps.sql.copy_text import copy_lines
from nomaflow.engine.steps.sql.errors import rejected_value
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
    """One converted column: `spell` converts a value and spells it as the target's text (by default
    PostgreSQL's COPY text); `field` is the same as a one-argument SQL function, where NULL stays NULL
    (the line spells it \\N). A value that does not convert is kept in `failure` with its error, and the
    error raised (SQLite then fails the statement without saying where: the pipeline finds the row)."""

    def __init__(
        self,
        index: int,
        column: str,
        convert: Convert,
        described: str,
        kind: Kind,
        spelling: Callable[[Any], str] | None = None,
    ) -> None:
        self.index, self.column, self.convert, self.described = index, column, convert, described
        self.name = f"nf_convert_{index}"
        self.failure: tuple[Any, Exception] | None = None
        spelling = spelling or _SPELLINGS[kind]

        def spell(value: Any) -> str:
            try:
                return spelling(convert(value))
            except (ValueError, TypeError, ArithmeticError) as exc:
                self.failure = (value, exc)
                raise

        def field(value: Any) -> str | None:
            return None if value is None else spell(value)

        self.spell, self.field = spell, field

    def refusal(self, value: Any) -> Exception | None:
        """Why this column's conversion refuses `value`, or None (used to find the failing row)."""
        try:
            self.field(value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            return exc
        return None

    def refused(self, row: int, value: Any, exc: Exception) -> Refused:
        return Refused(f"row {row}, {rejected_value(self.column, value, self.described, exc)}")


class Refused(ValueError):
    """A value a converted column refused: "row 12, column 'v': value 'x' does not fit (...): ..."."""


def parts_of(converted: Collection[int], count: int) -> dict[int, int]:
    """Which result column (part) each converted column is in copy_text.mariadb_select's query, where the
    runs of other columns between them come as one text part each."""
    parts, part, in_text = {}, 0, False
    for index in range(count):
        if index in converted:
            part += in_text
            parts[index], in_text = part, False
            part += 1
        else:
            in_text = True
    return parts


def lines(rows: Sequence[Sequence[Any]], fields: Mapping[int, PythonField], offset: int) -> bytes:
    """One batch of parts (text runs and values, `fields` by part) as COPY text lines; `offset` rows came
    before it. A text part is NULL only when MariaDB could not write it (copy_text.copy_lines)."""
    if not rows:
        return b""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for part, column in enumerate(columns):
        field = fields.get(part)
        if field is not None:
            columns[part] = _converted(column, field, offset)
        elif None in column:
            return copy_lines(rows, offset)  # raises LineTooLong for that row
        elif isinstance(column[0], bytes):
            columns[part] = [text.decode("utf-8", "surrogateescape") for text in column]
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode("utf-8", "surrogateescape")


def _converted(column: Sequence[Any], field: PythonField, offset: int, null: Any = None) -> list[str]:
    """The column's values converted and spelled (`null` as \\N); a refused one raises `Refused`."""
    spell = field.spell
    try:
        return ["\\N" if value == null else spell(value) for value in column]
    except (ValueError, TypeError, ArithmeticError):
        for number, value in enumerate(column, start=offset + 1):
            if value != null and (exc := field.refusal(value)) is not None:
                raise field.refused(number, value, exc) from None
        raise


# --- from PostgreSQL into MariaDB --------------------------------------------------------------------


def read_from_postgres(kind: Kind) -> Callable[[str], Any] | None:
    """How a field of PostgreSQL's COPY text, selected as copy_sqlite_text spells the kind, is read as
    the value asyncpg gives (None: not)."""
    found = postgres_text(kind)
    if found is None:
        return None
    _, parse = found

    def field(text: str) -> Any:
        return parse(unescaped(text) if "\\" in text else text)

    return field


def load_lines(lines: bytes, fields: Mapping[int, PythonField], offset: int) -> bytes:
    """Whole lines of PostgreSQL's COPY text with the `fields` columns (by index) converted and spelled
    for LOAD DATA; `offset` rows came before them."""
    if not lines:
        return lines
    text = lines.decode("utf-8", "surrogateescape").split("\n")
    text.pop()  # after the last newline
    columns: list[Sequence[Any]] = list(zip(*[line.split("\t") for line in text], strict=True))
    for index, field in fields.items():
        columns[index] = _converted(columns[index], field, offset, null="\\N")
    joined = "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"
    return joined.encode("utf-8", "surrogateescape")
