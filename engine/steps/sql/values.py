"""The value side of the type map: turning any accepted Python value into the canonical value of a
logical `Kind`, the cheaper direct conversions between canonical values, and what each driver hands
over and wants back (`nomaflow.engine.steps.sql.types` names the kinds and spells them)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from nomaflow.engine.resources.connectors import Dialect
from nomaflow.engine.steps.sql.types import INTEGERS, TEXTS, Convert, Kind, ValueMismatch

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
        convert, quick = _TO_KIND[kind], _QUICK.get(kind)

        def lenient(v: Any) -> Any:
            if quick is not None and type(v) is str:
                try:
                    return quick(v)  # the usual spelling, parsed by one builtin
                except (ValueError, ArithmeticError):
                    pass
            # SQLite's typing is advisory: a value the declared type cannot explain stays as it is,
            # and the target-side conversion reports it if the target cannot take it either.
            try:
                return convert(v)
            except ValueMismatch:
                return v

        return lenient
    return None


def _quick_timestamp(v: str) -> datetime:
    parsed = datetime.fromisoformat(v)
    return parsed if parsed.tzinfo is None else _naive_utc(parsed)


def _quick_timestamptz(v: str) -> datetime:
    parsed = datetime.fromisoformat(v)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


# What SQLite text in its usual spelling parses to, the same as the general conversions give but at a
# fraction of their cost; anything these reject takes the general way.
_QUICK: dict[Kind, Convert] = {
    Kind.NUMERIC: Decimal,
    Kind.DATE: date.fromisoformat,
    Kind.TIMESTAMP: _quick_timestamp,
    Kind.TIMESTAMPTZ: _quick_timestamptz,
}


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
