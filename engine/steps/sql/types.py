"""The cross-dialect type map of the SQL steps: logical column types, how each database spells them, and
the value conversions between them.

A column's type is read from the database as the database spells it (`numeric(12,2)`, `decimal(12,2)`,
`DECIMAL_TEXT(12,2)`) and becomes one `SqlType` of a logical `Kind`. Creating a table renders the kind
back in the target's spelling; copying converts each value from the source kind to the target kind
(`nomaflow.engine.steps.sql.values`). docs/steps/sql_copy.md carries the same map as a table: keep the
two in step.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nomaflow.engine.resources.connectors import Dialect

Convert = Callable[[Any], Any]


class Kind(enum.StrEnum):
    BOOLEAN = "boolean"
    SMALLINT = "smallint"
    INTEGER = "integer"
    BIGINT = "bigint"
    NUMERIC = "numeric"
    REAL = "real"
    DOUBLE = "double"
    TEXT = "text"
    VARCHAR = "varchar"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    INTERVAL = "interval"
    JSON = "json"
    BINARY = "binary"
    UUID = "uuid"
    OTHER = "other"  # a type the map does not know (arrays, geometry, enums...): copied only as itself


INTEGERS = (Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT)
TEXTS = (Kind.TEXT, Kind.VARCHAR)


@dataclass(frozen=True)
class SqlType:
    kind: Kind
    declared: str  # as the database (or the `columns` override) spells it
    precision: int | None = None  # numeric precision, varchar length
    scale: int | None = None

    def __str__(self) -> str:
        return self.declared


# --- reading a database's spelling ---------------------------------------------------------------

_ARGS = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*(?: [a-z_][a-z0-9_]*)*)"  # one or more words
    r"\s*(?:\(\s*(?P<p>\d+)\s*(?:,\s*(?P<s>-?\d+)\s*)?\))?"  # (precision[, scale])
    r"(?P<rest>.*)$"
)

_PG_NAMES: dict[str, Kind] = {
    "boolean": Kind.BOOLEAN,
    "bool": Kind.BOOLEAN,
    "smallint": Kind.SMALLINT,
    "int2": Kind.SMALLINT,
    "integer": Kind.INTEGER,
    "int": Kind.INTEGER,
    "int4": Kind.INTEGER,
    "bigint": Kind.BIGINT,
    "int8": Kind.BIGINT,
    "numeric": Kind.NUMERIC,
    "decimal": Kind.NUMERIC,
    "real": Kind.REAL,
    "float4": Kind.REAL,
    "double precision": Kind.DOUBLE,
    "float8": Kind.DOUBLE,
    "text": Kind.TEXT,
    "character varying": Kind.VARCHAR,
    "varchar": Kind.VARCHAR,
    "character": Kind.VARCHAR,
    "char": Kind.VARCHAR,
    "bpchar": Kind.VARCHAR,
    "date": Kind.DATE,
    "time": Kind.TIME,
    "time without time zone": Kind.TIME,
    "timestamp": Kind.TIMESTAMP,
    "timestamp without time zone": Kind.TIMESTAMP,
    "timestamptz": Kind.TIMESTAMPTZ,
    "timestamp with time zone": Kind.TIMESTAMPTZ,
    "interval": Kind.INTERVAL,
    "json": Kind.JSON,
    "jsonb": Kind.JSON,
    "bytea": Kind.BINARY,
    "uuid": Kind.UUID,
}

_MYSQL_NAMES: dict[str, Kind] = {
    "boolean": Kind.BOOLEAN,
    "bool": Kind.BOOLEAN,
    "tinyint": Kind.SMALLINT,
    "smallint": Kind.SMALLINT,
    "mediumint": Kind.INTEGER,
    "int": Kind.INTEGER,
    "integer": Kind.INTEGER,
    "bigint": Kind.BIGINT,
    "decimal": Kind.NUMERIC,
    "numeric": Kind.NUMERIC,
    "dec": Kind.NUMERIC,
    "float": Kind.REAL,
    "double": Kind.DOUBLE,
    "double precision": Kind.DOUBLE,
    "real": Kind.DOUBLE,
    "char": Kind.VARCHAR,
    "varchar": Kind.VARCHAR,
    "tinytext": Kind.TEXT,
    "text": Kind.TEXT,
    "mediumtext": Kind.TEXT,
    "longtext": Kind.TEXT,
    "enum": Kind.TEXT,
    "set": Kind.TEXT,
    "date": Kind.DATE,
    "time": Kind.TIME,
    "datetime": Kind.TIMESTAMP,
    "timestamp": Kind.TIMESTAMPTZ,  # stored as an instant; read in the session's UTC
    "json": Kind.JSON,
    "binary": Kind.BINARY,
    "varbinary": Kind.BINARY,
    "tinyblob": Kind.BINARY,
    "blob": Kind.BINARY,
    "mediumblob": Kind.BINARY,
    "longblob": Kind.BINARY,
    "uuid": Kind.UUID,
}


def _split(declared: str) -> tuple[str, int | None, int | None, str]:
    text = " ".join(declared.strip().lower().split())
    match = _ARGS.match(text)
    if match is None:
        return text, None, None, ""
    p, s = match.group("p"), match.group("s")
    return (
        match.group("name").strip(),
        int(p) if p else None,
        int(s) if s else None,
        match.group("rest").strip(),
    )


def parse_postgres(declared: str) -> SqlType:
    """A type as PostgreSQL's `format_type` (or a user) writes it."""
    name, p, s, rest = _split(declared)
    if rest in ("with time zone", "without time zone") and name in ("timestamp", "time"):
        name = f"{name} {rest}"
        rest = ""
    kind = _PG_NAMES.get(name, Kind.OTHER) if not rest else Kind.OTHER
    if kind is Kind.VARCHAR and p is None:
        kind = Kind.TEXT
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ, Kind.TIME):
        p = s = None  # fractional-seconds precision: not part of the logical type
    return SqlType(kind, declared.strip(), p, s)


def parse_mysql(declared: str, *, is_json: bool = False) -> SqlType:
    """A type as MariaDB/MySQL's information_schema COLUMN_TYPE writes it (`tinyint(1)` is boolean)."""
    name, p, s, rest = _split(declared)
    rest = rest.replace("unsigned", "").replace("zerofill", "").strip()
    if is_json:
        return SqlType(Kind.JSON, declared.strip())
    if name == "tinyint" and p == 1:
        return SqlType(Kind.BOOLEAN, declared.strip())
    kind = _MYSQL_NAMES.get(name, Kind.OTHER)
    if kind in INTEGERS:
        p = s = None  # display width
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ, Kind.TIME):
        p = s = None
    if kind is Kind.BINARY or (kind is Kind.VARCHAR and p is None):
        p = None
    if kind is Kind.VARCHAR and name == "char":
        kind = Kind.VARCHAR
    return SqlType(kind, declared.strip(), p, s)


def parse_sqlite(declared: str) -> SqlType:
    """A SQLite declared type. SQLite keeps any name; the map reads the names it writes itself and the
    usual spellings, with SQLite's own affinity rules as the fallback."""
    name, p, s, _ = _split(declared)
    upper = name.upper()
    if not upper:
        return SqlType(Kind.OTHER, declared.strip())
    for prefix, kind in (
        ("BOOL", Kind.BOOLEAN),
        ("TIMESTAMPTZ", Kind.TIMESTAMPTZ),
        ("TIMESTAMP WITH TIME ZONE", Kind.TIMESTAMPTZ),
        ("DATETIMETZ", Kind.TIMESTAMPTZ),
        ("TIMESTAMP", Kind.TIMESTAMP),
        ("DATETIME", Kind.TIMESTAMP),
        ("DATE", Kind.DATE),
        ("TIME", Kind.TIME),
        ("INTERVAL", Kind.INTERVAL),
        ("JSON", Kind.JSON),
        ("UUID", Kind.UUID),
        ("DECIMAL", Kind.NUMERIC),
        ("NUMERIC", Kind.NUMERIC),
        ("BYTEA", Kind.BINARY),
        ("VARBINARY", Kind.BINARY),
        ("BINARY", Kind.BINARY),
    ):
        if upper.startswith(prefix):
            return SqlType(kind, declared.strip(), p if kind is Kind.NUMERIC else None, s)
    # SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1), in their order.
    if "INT" in upper:
        return SqlType(Kind.BIGINT, declared.strip())  # SQLite integers are 64-bit whatever the name
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        kind = Kind.VARCHAR if p is not None and "CHAR" in upper else Kind.TEXT
        return SqlType(kind, declared.strip(), p if kind is Kind.VARCHAR else None)
    if "BLOB" in upper:
        return SqlType(Kind.BINARY, declared.strip())
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return SqlType(Kind.DOUBLE, declared.strip())
    return SqlType(Kind.NUMERIC, declared.strip(), p, s)


def parse(declared: str, dialect: Dialect) -> SqlType:
    if dialect == "postgresql":
        return parse_postgres(declared)
    if dialect == "mysql":
        return parse_mysql(declared, is_json=declared.strip().lower() == "json")
    return parse_sqlite(declared)


# A `columns` override is pasted into CREATE TABLE, so it must be a type name and nothing else.
_OVERRIDE = re.compile(
    r"^[A-Za-z][A-Za-z0-9_]*( [A-Za-z][A-Za-z0-9_]*){0,3}"
    r"( ?\( ?\d+ ?(, ?-?\d+ ?)?\))?( [A-Za-z][A-Za-z0-9_]*){0,3}$"
)


def check_override(text: str) -> None:
    """Raise ValueError unless `text` has the shape of a type name (whatever the database)."""
    if not _OVERRIDE.match(text.strip()):
        raise ValueError(f"'{text}' is not a type name (expected e.g. 'numeric(12,2)' or 'text')")


def parse_override(text: str, dialect: Dialect) -> SqlType:
    """A `columns = {name = "type"}` override, checked; raises ValueError with the reason."""
    check_override(text)
    parsed = parse(text, dialect)
    if parsed.kind is Kind.OTHER:
        known = ", ".join(sorted(_PG_NAMES if dialect == "postgresql" else _MYSQL_NAMES))
        if dialect == "sqlite":
            known = "INTEGER, BIGINT, BOOLEAN, DECIMAL_TEXT(p,s), REAL, TEXT, DATE, TIMESTAMP(TZ), JSON, BLOB"
        raise ValueError(f"unknown {dialect} type '{text}' (known: {known})")
    return parsed


# --- writing a target's spelling -----------------------------------------------------------------


def _numeric(t: SqlType, name: str, unconstrained: str) -> str:
    if t.precision is None:
        return unconstrained
    return f"{name}({t.precision},{t.scale or 0})"


def render(t: SqlType, dialect: Dialect) -> str:
    """The target's type for a column of `t` (the type map)."""
    k = t.kind
    if dialect == "postgresql":
        spelled = {
            Kind.BOOLEAN: "boolean",
            Kind.SMALLINT: "smallint",
            Kind.INTEGER: "integer",
            Kind.BIGINT: "bigint",
            Kind.REAL: "real",
            Kind.DOUBLE: "double precision",
            Kind.TEXT: "text",
            Kind.DATE: "date",
            Kind.TIME: "time",
            Kind.TIMESTAMP: "timestamp",
            Kind.TIMESTAMPTZ: "timestamptz",
            Kind.INTERVAL: "interval",
            Kind.JSON: "jsonb",
            Kind.BINARY: "bytea",
            Kind.UUID: "uuid",
        }
        if k is Kind.NUMERIC:
            return _numeric(t, "numeric", "numeric")
        if k is Kind.VARCHAR:
            return f"varchar({t.precision})"
    elif dialect == "mysql":
        spelled = {
            Kind.BOOLEAN: "boolean",
            Kind.SMALLINT: "smallint",
            Kind.INTEGER: "int",
            Kind.BIGINT: "bigint",
            Kind.REAL: "float",
            Kind.DOUBLE: "double",
            Kind.TEXT: "longtext",
            Kind.DATE: "date",
            Kind.TIME: "time(6)",
            Kind.TIMESTAMP: "datetime(6)",
            Kind.TIMESTAMPTZ: "datetime(6)",  # in UTC: MariaDB/MySQL have no zoned type past 2038
            Kind.JSON: "json",
            Kind.BINARY: "longblob",
            Kind.UUID: "char(36)",
        }
        if k is Kind.NUMERIC:
            return _numeric(t, "decimal", "decimal(65,30)")
        if k is Kind.VARCHAR:
            return f"varchar({t.precision})"
    else:
        spelled = {
            Kind.BOOLEAN: "BOOLEAN",
            Kind.SMALLINT: "SMALLINT",
            Kind.INTEGER: "INTEGER",
            Kind.BIGINT: "BIGINT",
            Kind.REAL: "REAL",
            Kind.DOUBLE: "DOUBLE",
            Kind.TEXT: "TEXT",
            Kind.DATE: "DATE",
            Kind.TIME: "TIME",
            Kind.TIMESTAMP: "TIMESTAMP",
            Kind.TIMESTAMPTZ: "TIMESTAMPTZ",
            Kind.INTERVAL: "INTERVAL",
            Kind.JSON: "JSON",
            Kind.BINARY: "BLOB",
            Kind.UUID: "UUID",
        }
        if k is Kind.NUMERIC:
            # TEXT affinity (the name holds "TEXT"): SQLite would turn '12.30' into the float 12.3.
            return _numeric(t, "DECIMAL_TEXT", "DECIMAL_TEXT")
        if k is Kind.VARCHAR:
            return f"VARCHAR({t.precision})"
    if k not in spelled:
        raise ValueError(f"the type map has no {dialect} type for {t.declared}")
    return spelled[k]


# --- errors about values (the conversions are in values.py) -------------------------------------


class ValueMismatch(ValueError):
    """A value that cannot become the target column's type; the message says what was expected."""


def describe_value(value: Any, limit: int = 80) -> str:
    """A value as an error message shows it: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
