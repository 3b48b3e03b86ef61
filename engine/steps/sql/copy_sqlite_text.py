"""PostgreSQL into SQLite as COPY text: PostgreSQL writes the rows as COPY text (`COPY (query) TO
STDOUT`), Python cuts each line into fields of str, and SQLite binds them as they are wherever the stored
value comes out exactly as the Python path stores it; the other fields are read into the value asyncpg
would have given and converted by the plan, column by column.

Why strings bind as the Python path's values: the Python path binds str for text, JSON, numeric, uuid,
dates and instants (their SQLite spellings), and int for integers and booleans. The same str bound gives
the same stored value whatever the column's affinity; a str of an integer stores as that int would in a
column of INTEGER, NUMERIC or TEXT affinity (SQLite turns '12' into 12, or 12 into '12'), but not in one
of REAL or BLOB affinity, where such columns are read into ints first. Floats and bytes are always read
(from their exact binary form in hex), and so is every value whose text differs from the Python path's
spelling (fractions of a second PostgreSQL trims, numerics asyncpg decodes with an exponent, infinities).

Pure: which copies can go so (`text_columns`), the SELECT that spells each column, and the reading of
COPY text into rows (`TextRows`). The pipeline (copy_pipeline) moves the data.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from nomaflow.engine.steps.sql.errors import rejected_value
from nomaflow.engine.steps.sql.names import Column
from nomaflow.engine.steps.sql.types import INTEGERS, TEXTS, Convert, Kind, SqlType, describe_value


class ColumnPlan(Protocol):
    """What reading the columns needs of a copy's plan (copy_plan.Plan, which imports this module)."""

    source: list[Column]
    types: list[SqlType]
    converters: list[tuple[int, Convert, str]]


# Lines are split once this much COPY text has come in (then cut at the last whole line): big enough
# that a batch costs one executemany, small enough that reading the next one overlaps SQLite's work.
BATCH_BYTES = 256 * 1024

# Rows a multi-row INSERT carries: fewer statements to run cost less than the row-by-row executemany
# (about a third less at 50), within the 999 parameters every SQLite build allows in one statement.
ROWS_PER_INSERT = 50
_PARAMETERS = 999


def rows_per_insert(width: int) -> int:
    """The rows in one INSERT of `width` columns."""
    return max(1, min(ROWS_PER_INSERT, _PARAMETERS // max(width, 1)))


# --- reading PostgreSQL's text into what asyncpg gives -------------------------------------------------


def _boolean(text: str) -> bool:
    return text == "t"


def read_numeric(text: str) -> Decimal:
    """As asyncpg decodes it: an integer's trailing groups of four zeros (PostgreSQL's base-10000 digits)
    become an exponent, so 120000 is Decimal('1.2E+5')."""
    if "." not in text and text.endswith("0000"):
        zeros = (len(text) - len(text.rstrip("0"))) // 4 * 4
        return Decimal(f"{text[:-zeros]}E+{zeros}")
    return Decimal(text)


_DOUBLE = struct.Struct(">d")


def _float(hex_text: str) -> float:
    """A float8send in hex: the exact double, whatever the session's extra_float_digits."""
    return float(_DOUBLE.unpack(bytes.fromhex(hex_text))[0])


def read_date(text: str) -> date:
    if text == "infinity":  # asyncpg's stand-ins for the infinities
        return date.max
    if text == "-infinity":
        return date.min
    return date.fromisoformat(text)  # refuses BC dates and years past 9999, as asyncpg does


def read_timestamp(text: str) -> datetime:
    if text == "infinity":
        return datetime.max
    if text == "-infinity":
        return datetime.min
    return datetime.fromisoformat(text)


def _timestamptz(text: str) -> datetime:
    """`timestamptz_select`'s text: naive UTC marked +00:00; asyncpg gives the infinities naive."""
    if text.endswith("infinity+00:00"):
        return read_timestamp(text.removesuffix("+00:00"))
    return datetime.fromisoformat(text)


def _text(text: str) -> str:
    return text


_PARSE: dict[Kind, Convert] = {
    Kind.BOOLEAN: _boolean,
    **dict.fromkeys(INTEGERS, int),
    Kind.NUMERIC: read_numeric,
    Kind.REAL: _float,
    Kind.DOUBLE: _float,
    **dict.fromkeys((*TEXTS, Kind.JSON), _text),
    Kind.UUID: uuid.UUID,
    Kind.DATE: read_date,
    Kind.TIME: time.fromisoformat,  # refuses 24:00:00, as asyncpg does
    Kind.TIMESTAMP: read_timestamp,
    Kind.TIMESTAMPTZ: _timestamptz,
    Kind.BINARY: bytes.fromhex,
}

# What each kind's SELECT expression is: exact binary forms in hex for floats and bytes, instants with
# a zone as naive UTC marked +00:00 (the Python path's spelling, whatever the session's time zone).
_SELECT = {
    Kind.REAL: "encode(float8send({column}::float8), 'hex')",
    Kind.DOUBLE: "encode(float8send({column}), 'hex')",
    Kind.BINARY: "encode({column}, 'hex')",
    Kind.TIMESTAMPTZ: "(({column} AT TIME ZONE 'UTC')::text || '+00:00')",
}


def postgres_text(kind: Kind) -> tuple[str, Convert] | None:
    """How a column of `kind` is selected as COPY text (a template on "{column}") and its text read back
    as the value asyncpg gives; None for a kind that is not read so (an interval, a type the map does
    not know)."""
    parse = _PARSE.get(kind)
    return None if parse is None else (_SELECT.get(kind, "{column}"), parse)


def sqlite_affinity(declared: str) -> str:
    """The affinity SQLite gives a column of this declared type (https://sqlite.org/datatype3.html 3.1)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return "TEXT"
    if "BLOB" in upper or not upper.strip():
        return "BLOB"
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return "REAL"
    return "NUMERIC"


# --- the plan of each column -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextColumn:
    """How one column's COPY text becomes what the Python path binds: `parse` (None: the text is bound
    as it is) gives asyncpg's value, `convert` (the plan's converter, if any) what is bound; values of a
    length in `usual` are already that and skip both, and so do those `keep` accepts (a test cheaper
    than reading them)."""

    name: str
    select: str  # the SELECT expression, a template on "{column}"
    described: str = ""  # "boolean -> text", for messages
    parse: Convert | None = None
    convert: Convert | None = None
    usual: frozenset[int] = frozenset()
    keep: Callable[[str], bool] | None = None  # other values already what is bound (a cheaper test)

    def read(self, text: str) -> Any:
        assert self.parse is not None
        if self.keep is not None and self.keep(text):
            return text
        value = self.parse(text)
        return value if self.convert is None else self.convert(value)

    def failure(self, text: str) -> str:
        """Why `text` did not read or convert, after "row N, " (an error only if it does not)."""
        assert self.parse is not None
        try:
            value = self.parse(text)
        except (ValueError, TypeError, ArithmeticError) as exc:
            return (
                f"column '{self.name}': PostgreSQL's value {describe_value(text)} has no Python value "
                f"({type(exc).__name__}: {exc})"
            )
        try:
            if self.convert is not None:
                self.convert(value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            return rejected_value(self.name, value, self.described, exc)
        return f"column '{self.name}': value {describe_value(text)} did not convert"


def text_columns(plan: ColumnPlan) -> list[TextColumn] | None:
    """Each column of a PostgreSQL -> SQLite copy as COPY text, or None when one cannot go so (an
    interval, or a type the map does not know: the copy takes the way of Python values)."""
    converters = {index: (convert, described) for index, convert, described in plan.converters}
    columns = []
    for index, (column, wanted) in enumerate(zip(plan.source, plan.types, strict=True)):
        have = column.type.kind
        if have not in _PARSE or wanted.kind is Kind.OTHER:
            return None
        convert, described = converters.get(index, (None, ""))
        base = TextColumn(column.name, _SELECT.get(have, "{column}"), described, _PARSE[have], convert)
        if _same_values(have, wanted.kind):
            columns.append(_kept(base, have, sqlite_affinity(wanted.declared), column.type.scale))
        else:
            columns.append(base)  # changes kind: every value is read and converted
    return columns


def converted(plan: ColumnPlan) -> list[str]:
    """The names of the columns whose kind changes: read and converted in Python, every value."""
    return [
        c.name
        for c, wanted in zip(plan.source, plan.types, strict=True)
        if not _same_values(c.type.kind, wanted.kind)
    ]


def _same_values(have: Kind, wanted: Kind) -> bool:
    return have is wanted or any(have in group and wanted in group for group in (INTEGERS, TEXTS))


def _kept(base: TextColumn, kind: Kind, affinity: str, scale: int | None) -> TextColumn:
    """A column that keeps its kind: the text goes as it is where it binds as the Python path's value."""
    ints_as_text = affinity in ("INTEGER", "NUMERIC", "TEXT")
    if kind is Kind.BOOLEAN:
        # As 1/0, the Python path's int; read as int where the column's affinity would keep the text.
        return TextColumn(base.name, "{column}::int", parse=None if ints_as_text else int)
    if kind in INTEGERS:
        return _bare(base) if ints_as_text else base
    if kind is Kind.NUMERIC and scale is not None and 1 <= scale <= 6:
        # The source's scale: str(Decimal) has no exponent then (a fraction has no trailing zero
        # groups, and no value is below 1E-6 but zero, which keeps its scale), so PostgreSQL's text is
        # the Python path's.
        return _bare(base)
    if kind in (*TEXTS, Kind.JSON, Kind.UUID):
        return _bare(base)
    usual = {Kind.DATE: {10}, Kind.TIME: {15}, Kind.TIMESTAMP: {19}, Kind.TIMESTAMPTZ: {25}}.get(kind)
    if usual is not None:
        # YYYY-MM-DD, HH:MM:SS.ffffff, YYYY-MM-DD HH:MM:SS (no fraction, as isoformat leaves it off) and
        # the same +00:00 are what the Python path writes; so are the values `_KEPT` finds among the
        # rest, which cost one test; the others are read and spelled by the Python path's functions.
        return TextColumn(
            base.name,
            base.select,
            base.described,
            base.parse,
            base.convert,
            frozenset(usual),
            _KEPT.get(kind),
        )
    return base  # numeric with another scale, floats, bytes: every value read


def _time_of_day(text: str) -> bool:
    """HH:MM:SS, but not PostgreSQL's 24:00:00, which asyncpg refuses."""
    return len(text) == 8 and text < "24"


def _microseconds(text: str) -> bool:
    """YYYY-MM-DD HH:MM:SS.ffffff of a year 1 to 9999 AD (PostgreSQL writes no trailing zero, so six
    digits are six digits, as isoformat writes them); a BC one ends in ' BC', a later one has five digits
    before its first '-'."""
    return len(text) == 26 and text[4] == "-" and text[19] == "." and text[20:].isdigit()


def _microseconds_utc(text: str) -> bool:
    return len(text) == 32 and text.endswith("+00:00") and _microseconds(text[:26])


_KEPT = {Kind.TIME: _time_of_day, Kind.TIMESTAMP: _microseconds, Kind.TIMESTAMPTZ: _microseconds_utc}


def _bare(base: TextColumn) -> TextColumn:
    return TextColumn(base.name, base.select)


def postgres_select(
    columns: Sequence[TextColumn], names: Sequence[str], quote: Callable[[str], str], sql: str
) -> str:
    """The source query with each column spelled as `columns` say (`names`: the source's names)."""
    fields = [c.select.format(column=quote(name)) for c, name in zip(columns, names, strict=True)]
    return f"SELECT {', '.join(fields)} FROM (\n{sql}\n) AS nf_source"


# --- COPY text into rows ---------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def unescaped(field: str) -> str:
    """One field of COPY text holding a backslash, its escapes undone: COPY writes \\\\ \\b \\f \\n \\r \\t
    \\v (never octal or hex escapes)."""
    return _ESCAPE.sub(lambda m: _ESCAPED.get(m[1], m[1]), field)


def _unescaped(line: str) -> list[str | None]:
    """The fields of a line holding a backslash: NULL is \\N, the others `unescaped`."""
    return [
        None if field == "\\N" else unescaped(field) if "\\" in field else field for field in line.split("\t")
    ]


class RowRefused(ValueError):
    """A value that does not read or convert: the message names its row and column."""


@dataclass(frozen=True)
class Lines:
    """Whole lines of COPY text (without their newlines), and the number of rows before them."""

    lines: list[str]
    offset: int
    escaped: bool  # some line holds a backslash: an escape or a NULL


class TextRows:
    """COPY text in (chunks cut anywhere), batches of whole lines out, and each batch's rows as groups
    of what the Python path binds, each group the flat parameters of one multi-row INSERT, made one at a
    time as SQLite's executemany asks for them: the splitting runs on the driver's thread, between the
    statements it runs, and no batch of rows is held."""

    def __init__(self, columns: Sequence[TextColumn], least: int = BATCH_BYTES) -> None:
        self.columns = list(columns)
        self.read = [(index, c) for index, c in enumerate(columns) if c.parse is not None]
        self.least = least
        self.pending: list[bytes] = []
        self.size = 0
        self.offset = 0  # rows in the batches handed out so far

    def feed(self, chunk: bytes | bytearray) -> Lines | None:
        """The whole lines in hand once `least` bytes have come in (None before)."""
        self.pending.append(bytes(chunk))  # asyncpg may reuse its buffer
        self.size += len(chunk)
        if self.size < self.least or b"\n" not in chunk:  # (a long row is joined once, when it ends)
            return None
        data = b"".join(self.pending)
        end = data.rfind(b"\n") + 1
        self.pending = [data[end:]] if end < len(data) else []
        self.size = len(data) - end
        return self._lines(data[:end])

    def finish(self) -> Lines | None:
        """The last lines (COPY text ends with a newline: a tail without one is a broken stream)."""
        data, self.pending, self.size = b"".join(self.pending), [], 0
        if data and not data.endswith(b"\n"):
            row = self.offset + data.count(b"\n") + 1
            raise RowRefused(f"row {row}: the COPY data ended inside it")
        return self._lines(data)

    def _lines(self, data: bytes) -> Lines | None:
        if not data:
            return None
        text = data.decode()
        lines = text.split("\n")
        lines.pop()  # after the last newline
        batch = Lines(lines, self.offset, "\\" in text)
        self.offset += len(lines)
        return batch

    def groups(self, batch: Lines, start: int, stop: int, per: int) -> Iterator[list[Any]]:
        """The rows of lines `start` to `stop` of the batch, `per` rows at a time, each group's values in
        one flat list (the parameters of one multi-row INSERT); raises RowRefused, naming the row and
        column, for a value that does not read or convert."""
        lines, width = batch.lines, len(self.columns)
        for first in range(start, stop, per):
            group = lines[first : first + per]
            joined = "\t".join(group)
            flat: list[Any]
            if "\\" in joined:  # an escape or a NULL somewhere: line by line
                flat = [v for line in group for v in (_unescaped(line) if "\\" in line else line.split("\t"))]
            else:  # the common case: one split for the whole group, in C
                flat = joined.split("\t")
            if len(flat) != len(group) * width:
                raise RowRefused(
                    f"rows {batch.offset + first + 1}-{batch.offset + first + len(group)}: not "
                    f"{width} fields a line in PostgreSQL's COPY text"
                )
            for index, column in self.read:
                self._read_column(flat, index, width, column, batch.offset + first)
            yield flat

    @staticmethod
    def _read_column(flat: list[Any], index: int, width: int, column: TextColumn, before: int) -> None:
        """One column's values in a group, read where their length is not a usual one (column-wise: one
        comprehension, and none when every length is usual)."""
        values = flat[index::width]
        usual, read = column.usual, column.read
        if usual:
            try:
                if set(map(len, values)) <= usual:
                    return
            except TypeError:  # a NULL among them
                pass
        try:
            flat[index::width] = [v if v is None or len(v) in usual else read(v) for v in values]
        except (ValueError, TypeError, ArithmeticError):
            for number, text in enumerate(values, start=before + 1):
                if text is not None and len(text) not in usual:
                    try:
                        read(text)
                    except (ValueError, TypeError, ArithmeticError):
                        raise RowRefused(f"row {number}, {column.failure(text)}") from None
            raise
