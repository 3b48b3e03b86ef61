"""The cross-dialect type map of the SQL steps: logical column types, how each database spells them, and
the value conversions between them.

A column's type is read from the database as the database spells it (`numeric(12,2)`, `decimal(12,2)`,
`DECIMAL_TEXT(12,2)`) and becomes one `SqlType` of a logical `Kind`. Creating a table renders the kind
back in the target's spelling; copying converts each value from the source kind to the target kind.
docs/steps/sql_copy.md carries the same map as a table: keep the two in step.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

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


# --- values ----------------------------------------------------------------------------------------


class ValueMismatch(ValueError):
    """A value that cannot become the target column's type; the message says what was expected."""


_TRUE = {"t", "true", "y", "yes", "on", "1"}
_FALSE = {"f", "false", "n", "no", "off", "0"}


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | Decimal | float) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise ValueMismatch("expected a boolean (true/false, 1/0)")


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, Decimal | float):
        if v != v or v in (float("inf"), float("-inf")) or v != int(v):
            raise ValueMismatch("expected a whole number")
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
        try:
            return _to_int(Decimal(v.strip()))
        except InvalidOperation:
            pass
    raise ValueMismatch("expected a whole number")


def _to_decimal(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, bool):
        raise ValueMismatch("expected a number")
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))  # the shortest decimal that reads back as this float, not its binary value
    if isinstance(v, str):
        try:
            return Decimal(v.strip())
        except InvalidOperation:
            pass
    raise ValueMismatch("expected a number")


def _to_float(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int | Decimal) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            pass
    raise ValueMismatch("expected a number")


def _to_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, int | Decimal | uuid.UUID):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dict | list):
        return msgspec.json.encode(v).decode()
    raise ValueMismatch("expected text")


def _to_date(v: Any) -> date:
    if isinstance(v, datetime):
        if v.time() != time(0) or v.tzinfo is not None:
            raise ValueMismatch("expected a date, got a timestamp with a time of day")
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValueMismatch("expected a date (YYYY-MM-DD)")


def _to_time(v: Any) -> time:
    if isinstance(v, time):
        return v
    if isinstance(v, timedelta):  # MariaDB/MySQL return TIME values as durations
        if timedelta(0) <= v < timedelta(days=1):
            return (datetime.min + v).time()
        raise ValueMismatch("expected a time of day (00:00:00 to 23:59:59)")
    if isinstance(v, str):
        try:
            return time.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValueMismatch("expected a time of day (HH:MM:SS)")


def _parse_datetime(v: str) -> datetime:
    text = v.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.combine(date.fromisoformat(text), time(0))
    except ValueError:
        raise ValueMismatch("expected a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM])") from None


def _to_timestamp(v: Any) -> datetime:
    """Naive, in UTC when the value was zoned."""
    if isinstance(v, str):
        v = _parse_datetime(v)
    if isinstance(v, datetime):
        return v if v.tzinfo is None else v.astimezone(UTC).replace(tzinfo=None)
    if isinstance(v, date):
        return datetime.combine(v, time(0))
    raise ValueMismatch("expected a timestamp")


def _to_timestamptz(v: Any) -> datetime:
    """Zoned; a naive value is taken to be UTC."""
    if isinstance(v, str):
        v = _parse_datetime(v)
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v
    if isinstance(v, date):
        return datetime.combine(v, time(0), UTC)
    raise ValueMismatch("expected a timestamp")


def _to_interval(v: Any) -> timedelta:
    if isinstance(v, timedelta):
        return v
    raise ValueMismatch("expected an interval")


def _to_json_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, dict | list | int | float | bool) or v is None:
        return msgspec.json.encode(v).decode()
    if isinstance(v, Decimal):
        return str(v)
    raise ValueMismatch("expected JSON")


def _to_bytes(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    raise ValueMismatch("expected binary data (bytes)")


def _to_uuid(v: Any) -> uuid.UUID:
    if isinstance(v, uuid.UUID):
        return v
    if isinstance(v, str):
        try:
            return uuid.UUID(v.strip())
        except ValueError:
            pass
    if isinstance(v, bytes) and len(v) == 16:
        return uuid.UUID(bytes=v)
    raise ValueMismatch("expected a UUID")


_TO_KIND: dict[Kind, Convert] = {
    Kind.BOOLEAN: _to_bool,
    Kind.SMALLINT: _to_int,
    Kind.INTEGER: _to_int,
    Kind.BIGINT: _to_int,
    Kind.NUMERIC: _to_decimal,
    Kind.REAL: _to_float,
    Kind.DOUBLE: _to_float,
    Kind.TEXT: _to_text,
    Kind.VARCHAR: _to_text,
    Kind.DATE: _to_date,
    Kind.TIME: _to_time,
    Kind.TIMESTAMP: _to_timestamp,
    Kind.TIMESTAMPTZ: _to_timestamptz,
    Kind.INTERVAL: _to_interval,
    Kind.JSON: _to_json_text,
    Kind.BINARY: _to_bytes,
    Kind.UUID: _to_uuid,
}

# (source kind, target kind) pairs that can never work, so a copy fails before it moves a row.
_NUMBERS = (*INTEGERS, Kind.NUMERIC, Kind.REAL, Kind.DOUBLE)
_TEMPORAL = (Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ)
_COMPATIBLE: dict[Kind, tuple[Kind, ...]] = {
    Kind.BOOLEAN: (Kind.BOOLEAN, *_NUMBERS, *TEXTS, Kind.JSON),
    **dict.fromkeys(_NUMBERS, (*_NUMBERS, Kind.BOOLEAN, *TEXTS, Kind.JSON)),
    Kind.DATE: (*_TEMPORAL, *TEXTS),
    Kind.TIMESTAMP: (*_TEMPORAL, *TEXTS),
    Kind.TIMESTAMPTZ: (*_TEMPORAL, *TEXTS),
    Kind.TIME: (Kind.TIME, *TEXTS),
    Kind.INTERVAL: (Kind.INTERVAL,),
    Kind.JSON: (Kind.JSON, *TEXTS),
    Kind.BINARY: (Kind.BINARY, Kind.UUID),
    Kind.UUID: (Kind.UUID, *TEXTS),
    Kind.TEXT: tuple(k for k in Kind if k is not Kind.OTHER),
    Kind.VARCHAR: tuple(k for k in Kind if k is not Kind.OTHER),
}


def compatible(source: Kind, target: Kind) -> bool:
    if source is Kind.OTHER or target is Kind.OTHER:
        return False
    return target in _COMPATIBLE[source]


def to_kind(kind: Kind) -> Convert:
    """The conversion of any accepted Python value to the canonical Python value of `kind`."""
    return _TO_KIND[kind]


def _as_utc(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC)


def _naive_utc(v: datetime) -> datetime:
    return v.astimezone(UTC).replace(tzinfo=None)


# Direct conversions for pairs whose source values are known to be canonical: a builtin call instead
# of the general conversion's type tests, on the hot path of a copy.
_DIRECT: dict[tuple[Kind, Kind], Convert] = {
    **{
        (k, t): float
        for k in (*INTEGERS, Kind.NUMERIC, Kind.REAL, Kind.DOUBLE)
        for t in (Kind.REAL, Kind.DOUBLE)
    },
    **{(k, Kind.NUMERIC): Decimal for k in INTEGERS},
    **{(k, t): str for k in (*INTEGERS, Kind.NUMERIC, Kind.UUID) for t in TEXTS},
    (Kind.TIMESTAMP, Kind.TIMESTAMPTZ): _as_utc,
    (Kind.TIMESTAMPTZ, Kind.TIMESTAMP): _naive_utc,
    (Kind.BOOLEAN, Kind.SMALLINT): int,
    (Kind.BOOLEAN, Kind.INTEGER): int,
    (Kind.BOOLEAN, Kind.BIGINT): int,
}


def converter(source: Kind, target: Kind) -> Convert:
    """The conversion of canonical `source` values into `target` values."""
    return _DIRECT.get((source, target)) or _TO_KIND[target]


# --- what each driver hands over and wants back ----------------------------------------------------


def _sqlite_bool(v: Any) -> Any:
    return bool(v) if isinstance(v, int) and v in (0, 1) else v


def reader_normalizer(kind: Kind, dialect: Dialect) -> Convert | None:
    """Turns what `dialect`'s driver returns for a column of `kind` into the canonical Python value, or
    None when the driver already returns it."""
    if dialect == "postgresql":
        return None  # asyncpg decodes every mapped type to the canonical value (json as its text)
    if dialect == "mysql":
        if kind is Kind.BOOLEAN:
            return _sqlite_bool
        if kind is Kind.TIMESTAMPTZ:
            return _to_timestamptz  # TIMESTAMP values come naive in the session's UTC
        if kind is Kind.TIME:
            return _to_time
        if kind is Kind.UUID:
            return _to_uuid
        return None
    # SQLite stores a handful of storage classes; the declared type says what the value means.
    if kind is Kind.BOOLEAN:
        return _sqlite_bool
    if kind in (Kind.NUMERIC, Kind.DATE, Kind.TIME, Kind.TIMESTAMP, Kind.TIMESTAMPTZ, Kind.UUID):
        convert = _TO_KIND[kind]

        def lenient(v: Any) -> Any:
            # SQLite's typing is advisory: a value the declared type cannot explain stays as it is,
            # and the target-side conversion reports it if the target cannot take it either.
            try:
                return convert(v)
            except ValueMismatch:
                return v

        return lenient
    return None


def writer_adapter(kind: Kind, dialect: Dialect) -> Convert | None:
    """Turns a canonical value of `kind` into what `dialect`'s driver accepts, or None if it does."""
    if dialect == "postgresql":
        return None
    if dialect == "mysql":
        if kind is Kind.TIMESTAMPTZ:
            return _to_timestamp  # DATETIME(6) in UTC
        if kind is Kind.UUID:
            return str
        if kind is Kind.TIME:
            return None
        return None
    if kind is Kind.BOOLEAN:
        return int
    if kind in (Kind.NUMERIC, Kind.UUID):
        return str
    if kind in (Kind.DATE, Kind.TIME):
        return _isoformat
    if kind is Kind.TIMESTAMP:
        return _sqlite_timestamp
    if kind is Kind.TIMESTAMPTZ:
        return _sqlite_timestamptz
    if kind is Kind.INTERVAL:
        return str
    return None


def _isoformat(v: Any) -> str:
    return str(v.isoformat())


def _sqlite_timestamp(v: datetime) -> str:
    return v.isoformat(sep=" ")


def _sqlite_timestamptz(v: datetime) -> str:
    return v.astimezone(UTC).isoformat(sep=" ")


def canonical_type(value: Any) -> Kind:
    """The kind a Python value naturally has: for SQLite columns with no declared type."""
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int):
        return Kind.BIGINT
    if isinstance(value, float):
        return Kind.DOUBLE
    if isinstance(value, bytes):
        return Kind.BINARY
    return Kind.TEXT


def describe_value(value: Any, limit: int = 80) -> str:
    """A value as an error message shows it: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
