"""PostgreSQL's binary COPY form of each type in the type map, read and written exactly as asyncpg reads
and writes it, for the columns a spliced copy (engine.steps.sql_copy_splice) converts in Python.

A decoder takes a field's bytes (without the length in front) and returns the value asyncpg would have
returned for it; an encoder takes a value and returns the bytes asyncpg would have sent for it. Keeping to
asyncpg matters: the conversions of engine.steps.sql_types were written against its values, and a copy
must give the same rows, and fail on the same values, whichever path it takes. The tests compare both
directions with asyncpg and the server on the edge values of every type.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from struct import Struct, pack
from typing import Any

from nomaflow.engine.steps.sql.types import Kind, SqlType, ValueMismatch

Decode = Callable[[bytes], Any]
Encode = Callable[[Any], bytes]

_INT16 = Struct(">h")
_INT32 = Struct(">i")
_INT64 = Struct(">q")
_FLOAT4 = Struct(">f")
_FLOAT8 = Struct(">d")
_INTERVAL = Struct(">qii")  # microseconds, days, months
_NUMERIC_HEAD = Struct(">HhHH")  # number of base-10000 digits, weight, sign, display scale
_NUMERIC_DIGITS = tuple(Struct(f">{n}H") for n in range(9))  # up to 32 decimal digits, the common case

# PostgreSQL's reserved values (src/include/datatype/timestamp.h, utils/adt/numeric.c).
_TIME_INFINITY = 0x7FFF_FFFF_FFFF_FFFF
_TIME_MINUS_INFINITY = -0x8000_0000_0000_0000
_DATE_INFINITY = 0x7FFF_FFFF
_DATE_MINUS_INFINITY = -0x8000_0000
_NUMERIC_NEGATIVE = 0x4000
_NUMERIC_NAN = 0xC000
_NUMERIC_INFINITY = 0xD000
_NUMERIC_MINUS_INFINITY = 0xF000
_NUMERIC_MAX_SCALE = 0x3FFF

_EPOCH = datetime(2000, 1, 1)
_EPOCH_UTC = datetime(2000, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(2000, 1, 1).toordinal()
# asyncpg writes Python's largest and smallest datetimes as PostgreSQL's infinities (and reads them back
# so): these are their distances from PostgreSQL's epoch, in microseconds.
_MAX_MICROSECONDS = 252_455_615_999_999_999
_MIN_MICROSECONDS = -63_082_281_600_000_000


def _signed(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


# --- reading ---------------------------------------------------------------------------------------------


def _read_bool(raw: bytes) -> bool:
    return raw == b"\x01"


def _read_float4(raw: bytes) -> float:
    value: float = _FLOAT4.unpack(raw)[0]
    return value


def _read_float8(raw: bytes) -> float:
    value: float = _FLOAT8.unpack(raw)[0]
    return value


def _read_text(raw: bytes) -> str:
    return raw.decode()


def _read_jsonb(raw: bytes) -> str:
    if raw[:1] != b"\x01":
        raise ValueError(f"unexpected JSONB format: {raw[0] if raw else None}")
    return raw[1:].decode()


def _read_bytea(raw: bytes) -> bytes:
    return bytes(raw)


def _read_uuid(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(raw))


def _read_date(raw: bytes) -> date:
    days = _signed(raw)
    if days == _DATE_INFINITY:
        return date.max
    if days == _DATE_MINUS_INFINITY:
        return date.min
    return date.fromordinal(days + _EPOCH_ORDINAL)


def _read_time(raw: bytes) -> time:
    micro = _signed(raw)
    seconds, micro = divmod(micro, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


def _read_instant(raw: bytes, epoch: datetime) -> datetime:
    micro = _signed(raw)
    # asyncpg gives the infinities as naive datetimes, even for timestamptz.
    if micro == _TIME_INFINITY:
        return datetime.max
    if micro == _TIME_MINUS_INFINITY:
        return datetime.min
    return epoch + timedelta(microseconds=micro)


def _read_timestamp(raw: bytes) -> datetime:
    return _read_instant(raw, _EPOCH)


def _read_timestamptz(raw: bytes) -> datetime:
    return _read_instant(raw, _EPOCH_UTC)


def _read_interval(raw: bytes) -> timedelta:
    micro, days, months = _INTERVAL.unpack(raw)
    if micro in (_TIME_INFINITY, _TIME_MINUS_INFINITY):
        micro = 0  # asyncpg keeps only the days and months of an infinite interval
    years, months = (-(-months // 12), -(-months % 12)) if months < 0 else divmod(months, 12)
    return timedelta(days=days + months * 30 + years * 365, microseconds=micro)


def _read_numeric(raw: bytes) -> Decimal:
    count, weight, sign, scale = _NUMERIC_HEAD.unpack_from(raw)
    if sign == _NUMERIC_NAN:
        return Decimal("NaN")
    if sign == _NUMERIC_INFINITY:
        return Decimal("Infinity")
    if sign == _NUMERIC_MINUS_INFINITY:
        return Decimal("-Infinity")
    if count == 0:
        return Decimal(f"0e-{scale}")
    coefficient = 0
    digits = _NUMERIC_DIGITS[count] if count < len(_NUMERIC_DIGITS) else Struct(f">{count}H")
    for group in digits.unpack_from(raw, 8):  # base-10000 digits
        coefficient = coefficient * 10000 + group
    # The Decimal asyncpg makes, down to its exponent: exactly `scale` fractional digits when the scale is
    # not 0 (12.30 in a numeric(12,2) is Decimal('12.30')), else the exponent of the last digit sent
    # (10000 is Decimal('1E+4')).
    if scale:
        shift = scale - (count - weight - 1) * 4
        coefficient = coefficient * 10**shift if shift >= 0 else coefficient // 10**-shift
        exponent = -scale
    else:
        exponent = (weight + 1 - count) * 4
    return Decimal(f"{'-' if sign == _NUMERIC_NEGATIVE else ''}{coefficient}E{exponent}")


# --- writing ---------------------------------------------------------------------------------------------


def _write_bool(value: Any) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise TypeError(f"a boolean is required (got type {type(value).__name__})")


def _integer(bits: int, name: str) -> Encode:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    size = bits // 8

    def write(value: Any) -> bytes:
        number = value
        if type(number) is not int:
            if not hasattr(type(number), "__int__"):
                raise TypeError(f"an integer is required (got type {type(number).__name__})")
            number = int(number)
        if not low <= number <= high:
            raise ValueMismatch(f"expected a whole number from {low} to {high} ({name})")
        return number.to_bytes(size, "big", signed=True)

    return write


def _write_float4(value: Any) -> bytes:
    try:
        return _FLOAT4.pack(float(value))
    except OverflowError:
        raise ValueMismatch("expected a number within the range of real") from None


def _write_float8(value: Any) -> bytes:
    return _FLOAT8.pack(float(value))


def _write_text(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value.encode()


def _write_jsonb(value: Any) -> bytes:
    return b"\x01" + _write_text(value)


def _write_bytea(value: Any) -> bytes:
    return value if type(value) is bytes else bytes(memoryview(value))


def _write_uuid(value: Any) -> bytes:
    found: uuid.UUID = uuid.UUID(value) if isinstance(value, str) else value
    return found.bytes


def _write_date(value: Any) -> bytes:
    ordinal = value.toordinal()
    if ordinal == date.max.toordinal():
        return _INT32.pack(_DATE_INFINITY)
    if ordinal == date.min.toordinal():
        return _INT32.pack(_DATE_MINUS_INFINITY)
    return _INT32.pack(ordinal - _EPOCH_ORDINAL)


def _microseconds(delta: timedelta) -> bytes:
    micro = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if micro == _MAX_MICROSECONDS:
        micro = _TIME_INFINITY
    elif micro == _MIN_MICROSECONDS:
        micro = _TIME_MINUS_INFINITY
    return _INT64.pack(micro)


def _write_time(value: Any) -> bytes:
    # As asyncpg: the time of day only (a zone, if any, is not part of a `time`).
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    return _INT64.pack(seconds * 1_000_000 + value.microsecond)


def _write_timestamp(value: Any) -> bytes:
    if not isinstance(value, datetime):
        if not isinstance(value, date):
            raise TypeError(f"expected a date or datetime, got {type(value).__name__}")
        value = datetime(value.year, value.month, value.day)
    return _microseconds(value - _EPOCH)


def _write_timestamptz(value: Any) -> bytes:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value == datetime.max:
        return _INT64.pack(_TIME_INFINITY)
    if value == datetime.min:
        return _INT64.pack(_TIME_MINUS_INFINITY)
    return _microseconds(value.astimezone(UTC) - _EPOCH_UTC)


def _write_interval(value: Any) -> bytes:
    # As asyncpg: days stay days, months are never written.
    micro = value.seconds * 1_000_000 + value.microseconds
    return _INTERVAL.pack(micro, value.days, 0)


def _write_numeric(value: Any) -> bytes:
    sign, digits, exponent = (value if isinstance(value, Decimal) else Decimal(value)).as_tuple()
    if exponent in ("n", "N"):
        return _NUMERIC_HEAD.pack(0, 0, _NUMERIC_NAN, 0)
    if exponent == "F":
        return _NUMERIC_HEAD.pack(0, 0, _NUMERIC_MINUS_INFINITY if sign else _NUMERIC_INFINITY, 0)
    assert isinstance(exponent, int)
    if -exponent > _NUMERIC_MAX_SCALE:
        raise ValueError("cannot encode Decimal value into numeric: exponent is too small")
    coefficient = 0
    for digit in digits:
        coefficient = coefficient * 10 + digit
    # Base-10000 digits, the decimal point between two of them: shift the coefficient so that its last
    # digit ends a group. The same digits and weight as asyncpg sends (trailing zero groups included).
    align = exponent % 4
    coefficient *= 10**align
    groups: list[int] = []
    while True:
        coefficient, group = divmod(coefficient, 10000)
        groups.append(group)
        if not coefficient:
            break
    groups.reverse()
    weight = len(groups) - 1 + (exponent - align) // 4
    if weight > 0x7FFF:
        raise ValueError("cannot encode Decimal value into numeric: exponent is too large")
    if len(groups) > 0xFFFF:
        raise ValueError("cannot encode Decimal value into numeric: number of digits is too large")
    scale = -exponent if exponent < 0 else 0
    negative = _NUMERIC_NEGATIVE if sign else 0
    return pack(f">HhHH{len(groups)}H", len(groups), weight, negative, scale, *groups)


# --- by type ---------------------------------------------------------------------------------------------

_READERS: dict[Kind, Decode] = {
    Kind.BOOLEAN: _read_bool,
    Kind.SMALLINT: _signed,
    Kind.INTEGER: _signed,
    Kind.BIGINT: _signed,
    Kind.NUMERIC: _read_numeric,
    Kind.REAL: _read_float4,
    Kind.DOUBLE: _read_float8,
    Kind.TEXT: _read_text,
    Kind.VARCHAR: _read_text,  # varchar and character(n) travel as text, padding included
    Kind.DATE: _read_date,
    Kind.TIME: _read_time,
    Kind.TIMESTAMP: _read_timestamp,
    Kind.TIMESTAMPTZ: _read_timestamptz,
    Kind.INTERVAL: _read_interval,
    Kind.JSON: _read_text,
    Kind.BINARY: _read_bytea,
    Kind.UUID: _read_uuid,
}

_WRITERS: dict[Kind, Encode] = {
    Kind.BOOLEAN: _write_bool,
    Kind.SMALLINT: _integer(16, "smallint"),
    Kind.INTEGER: _integer(32, "integer"),
    Kind.BIGINT: _integer(64, "bigint"),
    Kind.NUMERIC: _write_numeric,
    Kind.REAL: _write_float4,
    Kind.DOUBLE: _write_float8,
    Kind.TEXT: _write_text,
    Kind.VARCHAR: _write_text,
    Kind.DATE: _write_date,
    Kind.TIME: _write_time,
    Kind.TIMESTAMP: _write_timestamp,
    Kind.TIMESTAMPTZ: _write_timestamptz,
    Kind.INTERVAL: _write_interval,
    Kind.JSON: _write_text,
    Kind.BINARY: _write_bytea,
    Kind.UUID: _write_uuid,
}


def _is_jsonb(t: SqlType) -> bool:
    # json and jsonb share a kind, not a binary form: jsonb has a version byte in front.
    return t.kind is Kind.JSON and t.declared.strip().lower() == "jsonb"


def decoder(t: SqlType) -> Decode | None:
    """How to read a binary COPY field of PostgreSQL type `t`, or None for a type the map does not know."""
    return _read_jsonb if _is_jsonb(t) else _READERS.get(t.kind)


def encoder(t: SqlType) -> Encode | None:
    """How to write a value as a binary COPY field of PostgreSQL type `t` (without the length in front)."""
    return _write_jsonb if _is_jsonb(t) else _WRITERS.get(t.kind)
