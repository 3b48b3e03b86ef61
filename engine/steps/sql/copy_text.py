"""The text relay between PostgreSQL and MariaDB/MySQL, and from SQLite into PostgreSQL: rows that move
as the databases' own text, never as Python values. PostgreSQL -> MariaDB streams `COPY (query) TO
STDOUT` into `LOAD DATA LOCAL INFILE`; MariaDB -> PostgreSQL and SQLite -> PostgreSQL have the source
write each row as one line of COPY text (escaped by the source) and stream the lines into
`COPY ... FROM STDIN`.

Pure: which columns can travel so (`relayable`), the source SELECT that makes each column's text one the
target reads, the few byte fixes between the two text formats, and the target's complaint about a value
turned into the row and column it names. The pipeline (copy_pipeline) moves the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from nomaflow.engine.steps.sql.copy_sqlite_text import postgres_text
from nomaflow.engine.steps.sql.names import Column
from nomaflow.engine.steps.sql.types import INTEGERS, TEXTS, Kind, SqlType

# Kinds whose text one server writes and the other reads as the same value (with the expressions below).
# Not here: interval (MariaDB has no such type) and the types the map does not know.
_RELAYED = frozenset(
    {
        Kind.BOOLEAN,
        *INTEGERS,
        Kind.NUMERIC,
        Kind.REAL,
        Kind.DOUBLE,
        *TEXTS,
        Kind.JSON,
        Kind.DATE,
        Kind.TIME,
        Kind.TIMESTAMP,
        Kind.TIMESTAMPTZ,
        Kind.BINARY,
        Kind.UUID,
    }
)
# Groups within which a value's text is already one of the other kind: JSON is carried as its text, and
# an instant is written naive in UTC into MariaDB and read as UTC from it (the selects below), as the
# Python conversions do.
_SAME_TEXT = (
    frozenset(INTEGERS),
    frozenset({*TEXTS, Kind.JSON}),
    frozenset({Kind.TIMESTAMP, Kind.TIMESTAMPTZ}),
)


def relayable(have: SqlType, wanted: SqlType) -> bool:
    """Whether a column of `have` can go into one of `wanted` as text, unchanged: the same kind (or one
    whose text the target reads as the same value), no conversion in Python."""
    if have.kind not in _RELAYED or wanted.kind not in _RELAYED:
        return False
    return have.kind is wanted.kind or any(have.kind in g and wanted.kind in g for g in _SAME_TEXT)


# --- PostgreSQL -> MariaDB -------------------------------------------------------------------------------

# The source session's settings for text a MariaDB server reads: ISO dates, floats to the last digit.
POSTGRES_SETTINGS = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL extra_float_digits = 3")


def postgres_select(
    columns: Sequence[Column], quote: Callable[[str], str], sql: str, converted: Collection[int] = ()
) -> str:
    """The source query with each column as LOAD DATA reads it: booleans as 1/0, instants as naive UTC
    (what sql_copy writes into MariaDB), bytea as hex (the load UNHEXes it), reals at their exact value.
    The `converted` columns (indexes) come as copy_sqlite_text spells them for Python to read back
    (exact floats and bytes in hex, zoned instants in UTC), to be converted by copy_fields."""
    fields = []
    for index, column in enumerate(columns):
        name, kind = quote(column.name), column.type.kind
        read = postgres_text(kind) if index in converted else None
        if read is not None:
            fields.append(read[0].format(column=name))
        elif kind is Kind.BOOLEAN:
            fields.append(f"{name}::int")
        elif kind is Kind.REAL:
            # float4's shortest text can be beyond float4 once read as a double (-3.4028235e+38):
            # its exact value, as asyncpg would give it, reads back as itself.
            fields.append(f"{name}::float8")
        elif kind is Kind.TIMESTAMPTZ:
            fields.append(f"({name} AT TIME ZONE 'UTC')")
        elif kind is Kind.BINARY:
            fields.append(f"encode({name}, 'hex')")
        else:
            fields.append(name)
    return f"SELECT {', '.join(fields)} FROM (\n{sql}\n) AS nf_source"


class WholeLines:
    """COPY data cut at row ends: what `feed` returns holds whole rows only (so an escape is never split
    between two chunks, and its newlines count rows)."""

    def __init__(self) -> None:
        self.tail = b""

    def feed(self, chunk: bytes | bytearray) -> bytes:
        data = self.tail + chunk if self.tail else bytes(chunk)  # asyncpg hands over bytearrays
        end = data.rfind(b"\n") + 1
        self.tail = data[end:]
        return data[:end]


# PostgreSQL escapes form feed and vertical tab as \f and \v, which LOAD DATA reads as 'f' and 'v'.
_ESCAPE = re.compile(rb"\\.")
_FOR_LOAD_DATA = {b"\\f": b"\x0c", b"\\v": b"\x0b"}


def for_load_data(lines: bytes) -> bytes:
    """PostgreSQL COPY text as LOAD DATA (ESCAPED BY '\\\\') reads the same values."""
    if b"\\f" not in lines and b"\\v" not in lines:
        return lines
    return _ESCAPE.sub(lambda m: _FOR_LOAD_DATA.get(m.group(), m.group()), lines)


_MY_COLUMN_ROW = re.compile(r"column (?:`[^`]*`\.)*[`'](?P<column>.+?)[`'] at row (?P<row>\d+)")
_MY_ROW = re.compile(r"\b[Rr]ow (?P<row>\d+)\b")


def mariadb_rejection(code: Any, message: str) -> str:
    """A warning of LOAD DATA as the copy reports it: "row 12, column 'v': the target refused the value:
    (1264) Out of range value for column 'v' at row 12"."""
    found = _MY_COLUMN_ROW.search(message)
    if found is not None:
        where = f"row {found['row']}, column '{found['column']}': "
    elif (row := _MY_ROW.search(message)) is not None:
        where = f"row {row['row']}: "
    else:
        where = ""
    return f"{where}the target refused the value: ({code}) {message}"


# --- MariaDB -> PostgreSQL -------------------------------------------------------------------------------


def mariadb_select(
    columns: Sequence[Column],
    targets: Sequence[SqlType],
    quote: Callable[[str], str],
    sql: str,
    backslashes: bool,
    converted: Collection[int] = (),
) -> str:
    """The source query as one column of COPY text lines (without the newline): fields escaped by the
    server, NULL as \\N, instants marked UTC where the target column has a zone, binary as bytea's hex.
    `targets`: the target's column types; `backslashes`: whether the session reads backslash escapes in
    string literals (not under NO_BACKSLASH_ESCAPES). With `converted` (column indexes), those columns
    come as their values, each between the text of the columns around it (copy_fields.lines)."""

    def literal(text: str) -> str:
        return "'" + (text.replace("\\", "\\\\") if backslashes else text) + "'"

    null, tab, bytea_hex = literal("\\N"), literal("\t"), literal("\\\\x")
    fields = []
    for column, target in zip(columns, targets, strict=True):
        name, kind = quote(column.name), column.type.kind
        if kind in TEXTS or kind is Kind.JSON:
            value = name
            for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                value = f"REPLACE({value}, {literal(char)}, {literal(escaped)})"
        elif kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ) and target.kind is Kind.TIMESTAMPTZ:
            value = f"CONCAT({name}, '+00')"  # read in the session's UTC, as naive values are taken
        elif kind is Kind.BINARY:
            value = f"CONCAT({bytea_hex}, HEX({name}))"
        elif kind is Kind.UUID:
            value = f"CAST({name} AS CHAR)"  # IFNULL(uuid, '\N') would be a uuid, and '\N' NULL
        else:
            value = name
        fields.append(f"IFNULL({value}, {null})")
    if not converted:
        return f"SELECT CONCAT_WS({tab}, {', '.join(fields)}) AS nf_line FROM (\n{sql}\n) AS nf_source"
    parts: list[str] = []  # the converted columns as they are; each run of other fields as one text
    text: list[str] = []  # the run being gathered
    for index, field in enumerate(fields):
        if index in converted:
            if text:
                parts.append(f"CONCAT_WS({tab}, {', '.join(text)})")
                text = []
            parts.append(quote(columns[index].name))
        else:
            text.append(field)
    if text:
        parts.append(f"CONCAT_WS({tab}, {', '.join(text)})")
    named = ", ".join(f"{part} AS nf_part_{number}" for number, part in enumerate(parts))
    return f"SELECT {named} FROM (\n{sql}\n) AS nf_source"


def copy_lines(rows: Sequence[Sequence[Any]], offset: int) -> bytes:
    """One batch of `mariadb_select`'s rows as COPY text; `offset` rows came before it."""
    if not rows:
        return b""
    try:
        if isinstance(rows[0][0], bytes):
            return b"\n".join([r[0] for r in rows]) + b"\n"
        return ("\n".join([r[0] for r in rows]) + "\n").encode()
    except TypeError:
        number = offset + next(i for i, r in enumerate(rows, start=1) if r[0] is None)
        raise LineTooLong(number) from None


class LineTooLong(ValueError):
    """MariaDB gave NULL for a row's line: longer than its max_allowed_packet."""

    def __init__(self, row: int) -> None:
        super().__init__(
            f"row {row}: longer as one line of text than the source server's max_allowed_packet "
            "(MariaDB gave NULL for it); raise that setting to copy rows this long"
        )


_PG_LINE = re.compile(r", line (?P<row>\d+)(?:, column (?P<column>.+?): |[:,]|$)")


def postgres_rejection(exc: BaseException) -> str | None:
    """A value PostgreSQL's COPY refused, as the copy reports it ("row 3, column 'v': ..."); None for
    an error that is not about one value (a lost connection, say)."""
    state = getattr(exc, "sqlstate", None) or ""
    context = getattr(exc, "context", None) or ""
    found = _PG_LINE.search(context)
    if state[:2] not in ("22", "23") or found is None:
        return None
    column = f", column '{found['column']}'" if found["column"] else ""
    return f"row {found['row']}{column}: the target refused the value: {exc}"


# --- SQLite -> PostgreSQL --------------------------------------------------------------------------------

# Kinds SQLite's own text gives as the Python path would (with the two helpers below for the values it
# cannot write in SQL). Not here: date, time, uuid and interval, whose stored spellings the Python path
# reads more strictly or more leniently than PostgreSQL does.
_SQLITE_RELAYED = frozenset(
    {Kind.BOOLEAN, *INTEGERS, Kind.NUMERIC, Kind.DOUBLE, *TEXTS, Kind.JSON, Kind.TIMESTAMP, Kind.TIMESTAMPTZ}
    | {Kind.BINARY}
)

# The names of the helpers `sqlite_line` calls (registered on the source connection by the pipeline).
SQLITE_FLOAT, SQLITE_UTC = "nf_float_text", "nf_naive_utc"


def sqlite_relayable(have: SqlType, wanted: SqlType) -> bool:
    """Whether a SQLite column of `have` can go into a PostgreSQL one of `wanted` as SQLite's text: a
    declared type (an untyped expression's values may be of any storage class) the relay knows."""
    return bool(have.declared) and have.kind in _SQLITE_RELAYED and relayable(have, wanted)


def float_text(value: Any) -> Any:
    """A stored REAL as the Python path reads it (its shortest exact spelling; SQLite writes 15 digits)."""
    return repr(value) if isinstance(value, float) else value


def naive_utc_text(value: Any) -> Any:
    """A stored instant with an offset as the Python path writes it into a column without a zone: the
    same instant, naive in UTC (PostgreSQL would drop the offset). Text it cannot read goes as it is, for
    the target to refuse."""
    if not isinstance(value, str):
        return value
    from nomaflow.engine.steps.sql.values import reader_normalizer

    normalize = reader_normalizer(Kind.TIMESTAMP, "sqlite")
    assert normalize is not None
    parsed = normalize(value)
    return parsed.isoformat(sep=" ") if hasattr(parsed, "isoformat") else value


def sqlite_line(
    columns: Sequence[Column],
    targets: Sequence[SqlType],
    quote: Callable[[str], str],
    converted: Mapping[int, str] | None = None,
) -> str:
    """A row of the source as one line of COPY text (without the newline), written by SQLite: text
    escaped with replace(), NULL as \\N, reals and zoned instants through the helpers above, naive
    instants marked UTC where the target column has a zone (as the Python path reads them), blobs as
    bytea's hex, fields joined with tabs. A value that does not match its declared type goes as SQLite
    spells it, for the target to refuse naming its row and column. `converted`: the columns (by index)
    that the named function converts and spells (copy_fields.PythonField)."""
    fields = []
    for index, (column, target) in enumerate(zip(columns, targets, strict=True)):
        name, kind = quote(column.name), column.type.kind
        if converted and index in converted:
            fields.append(f"ifnull({converted[index]}({name}), '\\N')")
            continue
        zoned = f"{name} GLOB '*:*[-+Zz]*'"  # a time of day, then an offset (a leading '-' is itself)
        if kind in TEXTS or kind is Kind.JSON:
            value = name
            for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                value = f"replace({value}, '{char}', '{escaped}')"
            # Most text has nothing to escape: four instr() scans to find out cost less than four
            # replace()s, and a third of one GLOB '*[...]*' (which matches character by character).
            found = " + ".join(f"instr({name}, {c})" for c in ("'\\'", "char(9)", "char(10)", "char(13)"))
            value = f"CASE WHEN {found} THEN {value} ELSE {name} END"
        elif kind in (Kind.NUMERIC, Kind.DOUBLE):
            value = f"CASE typeof({name}) WHEN 'real' THEN {SQLITE_FLOAT}({name}) ELSE {name} END"
        elif kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ) and target.kind is Kind.TIMESTAMPTZ:
            value = f"CASE WHEN typeof({name}) <> 'text' OR {zoned} THEN {name} ELSE {name} || '+00' END"
        elif kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
            value = f"CASE WHEN typeof({name}) = 'text' AND {zoned} THEN {SQLITE_UTC}({name}) ELSE {name} END"
        elif kind is Kind.BINARY:
            value = f"CASE WHEN {name} IS NULL THEN NULL ELSE '\\\\x' || hex({name}) END"
        else:
            value = name
        fields.append(f"ifnull({value}, '\\N')")
    return _sqlite_joined(fields)


# SQLite functions take at most 127 arguments (SQLITE_MAX_FUNCTION_ARG); one is printf's format.
_PRINTF_FIELDS = 100


def _sqlite_joined(fields: Sequence[str]) -> str:
    """The fields joined with tabs by printf(), which writes the line into one buffer: a chain of `||`
    copies the line so far at each field. Wide rows take one printf per hundred fields."""
    parts = []
    for start in range(0, len(fields), _PRINTF_FIELDS):
        group = fields[start : start + _PRINTF_FIELDS]
        parts.append(f"printf('{chr(9).join(['%s'] * len(group))}', {', '.join(group)})")
    return " || '\t' || ".join(parts)
