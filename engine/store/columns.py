"""Column types shared by the tables and the migrations: UTC timestamps, JSON, autoincrement ids.

Each one picks the best native type on PostgreSQL and a working equivalent on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Stores an aware instant as UTC and always hands back an aware UTC datetime.

    SQLite has no time zones: its strings come back naive, so the UTC is put back on read. Naive values
    are refused on write, because guessing their zone is how schedulers end up an hour off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the job store; pass an aware one")
        value = value.astimezone(UTC)
        # SQLite's DATETIME strings carry no offset; all of them being UTC keeps them comparable as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL. Python None is SQL NULL, never the JSON literal null."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def bigint_id() -> TypeEngine[int]:
    """A 64-bit id on PostgreSQL; plain INTEGER on SQLite, where only that aliases the rowid and
    autoincrements."""
    return BigInteger().with_variant(Integer(), "sqlite")
