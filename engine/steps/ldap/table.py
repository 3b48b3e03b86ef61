"""The table side of `ldap_sync`: learn the target table's columns, compare the directory's rows with it,
and apply the difference (inserts, updates, deletes or flags) in one transaction.

It talks to the table through the connector's SQLAlchemy pool with Core statements, so names are quoted
and values bound by the driver on PostgreSQL, MariaDB/MySQL and SQLite alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.engine.resources.connectors import Dialect
from nomaflow.engine.steps.sql.types import Kind, SqlType, ValueMismatch, parse
from nomaflow.engine.steps.sql.values import reader_normalizer, to_kind, writer_adapter

Convert = Callable[[Any], Any]

# LDAP's GeneralizedTime (createTimestamp, pwdChangedTime...): 20240131235959Z, with optional fraction.
_GENERALIZED_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{4})$")


class TableProblem(Exception):
    """The table cannot take the mapping: `field` is the step option to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TargetColumn:
    name: str  # as the database spells it
    type: SqlType

    @property
    def kind(self) -> Kind:
        return self.type.kind


@dataclass
class Counts:
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    flagged: int = 0

    def as_output(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "flagged": self.flagged,
        }


@dataclass
class Changes:
    """What a sync would do; `counts` says it in numbers."""

    counts: Counts = field(default_factory=Counts)
    inserts: list[tuple[Any, ...]] = field(default_factory=list)  # whole rows, in column order
    updates: list[tuple[Any, ...]] = field(default_factory=list)  # whole rows, in column order
    missing: list[Any] = field(default_factory=list)  # keys to delete or flag
    unflag: bool = False  # updates also clear the flag


def split_table_name(text: str) -> tuple[str | None, str]:
    schema, dot, name = text.rpartition(".")
    return (schema or None, name) if dot else (None, text)


# --- learning the table ---------------------------------------------------------------------------


async def describe_table(engine: AsyncEngine, table: str, dialect: Dialect) -> dict[str, TargetColumn]:
    """The table's columns by name; raise TableProblem("table", ...) if there is no such table."""
    schema, name = split_table_name(table)

    def reflect(connection: sa.Connection) -> list[tuple[str, str]] | None:
        inspector = sa.inspect(connection)
        if not inspector.has_table(name, schema=schema):
            return None
        found = []
        if dialect == "sqlite":
            # SQLite keeps the declared type as written (TIMESTAMPTZ, BOOLEAN...); reflection would
            # replace the names it does not know by their affinity, and the meaning would be lost.
            quote = connection.dialect.identifier_preparer.quote
            prefix = f"{quote(schema)}." if schema else ""
            pragma = connection.exec_driver_sql(f"PRAGMA {prefix}table_info({quote(name)})")
            return [(str(row[1]), str(row[2] or "")) for row in pragma]
        for column in inspector.get_columns(name, schema=schema):
            try:
                declared = column["type"].compile(dialect=connection.dialect)
            except sa.exc.CompileError:
                declared = ""  # a type SQLAlchemy cannot name (SQLite columns declared without one)
            found.append((column["name"], declared))
        return found

    async with engine.connect() as connection:
        columns = await connection.run_sync(reflect)
    if columns is None:
        raise TableProblem("table", f"there is no table '{table}'")
    return {column: TargetColumn(column, _column_type(declared, dialect)) for column, declared in columns}


def _column_type(declared: str, dialect: Dialect) -> SqlType:
    if not declared:
        return SqlType(Kind.TEXT, declared)
    return parse(declared, dialect)


def resolve_column(columns: Mapping[str, TargetColumn], wanted: str, option: str, table: str) -> TargetColumn:
    """The column named `wanted`, matched exactly, else ignoring case (PostgreSQL folds unquoted names)."""
    if wanted in columns:
        return columns[wanted]
    folded = [column for name, column in columns.items() if name.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    names = ", ".join(columns)
    raise TableProblem(option, f"table '{table}' has no column '{wanted}' (its columns: {names})")


# --- values -----------------------------------------------------------------------------------------


def generalized_time(text: str) -> datetime | str:
    """An LDAP GeneralizedTime as an aware datetime; other text is returned as it is."""
    match = _GENERALIZED_TIME.match(text)
    if match is None:
        return text
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0) if zone == "Z" else timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    zone_info = timezone(-offset if zone.startswith("-") else offset)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0), micro, zone_info
        )
    except ValueError:
        return text


def value_converter(column: TargetColumn) -> Convert | None:
    """Directory text (or bytes) -> the column's canonical Python value; None when text is kept as is.
    Raises ValueMismatch with what was expected."""
    kind = column.kind
    if kind in (Kind.TEXT, Kind.OTHER):
        return None
    if kind is Kind.VARCHAR:
        limit = column.type.precision

        def bounded(value: Any) -> Any:
            if limit is not None and isinstance(value, str) and len(value) > limit:
                raise ValueMismatch(f"longer than the column's {limit} characters")
            return value

        return bounded if limit is not None else None
    convert = to_kind(kind)
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ, Kind.DATE):

        def temporal(value: Any) -> Any:
            if isinstance(value, str):
                value = generalized_time(value)
            return convert(value)

        return temporal
    return convert


# --- comparing and writing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    engine: AsyncEngine
    dialect: Dialect
    table: str
    columns: tuple[TargetColumn, ...]  # mapped columns, in row order
    key_index: int
    flag: TargetColumn | None  # on_missing = "flag"
    on_missing: str  # keep | delete | flag

    @property
    def key(self) -> TargetColumn:
        return self.columns[self.key_index]


def _sa_table(target: Target) -> sa.TableClause:
    schema, name = split_table_name(target.table)
    names = [column.name for column in target.columns]
    if target.flag is not None:
        names.append(target.flag.name)
    return sa.table(name, *(sa.column(column) for column in names), schema=schema)


async def plan_changes(
    connection: AsyncConnection, target: Target, rows: Mapping[Any, tuple[Any, ...]]
) -> Changes:
    """Compare the directory's rows (by key) with the table's, inside the caller's transaction."""
    table = _sa_table(target)
    selected = [table.c[column.name] for column in target.columns]
    if target.flag is not None:
        selected.append(table.c[target.flag.name])
    normalizers = [reader_normalizer(column.kind, target.dialect) for column in target.columns]
    flag_normalizer = reader_normalizer(Kind.BOOLEAN, target.dialect)
    width = len(target.columns)
    key_index = target.key_index
    existing: dict[Any, tuple[Any, ...]] = {}
    flagged_now: set[Any] = set()
    result = await connection.execute(sa.select(*selected))
    for record in result:
        values = tuple(
            normalize(value) if normalize is not None and value is not None else value
            for normalize, value in zip(normalizers, record[:width], strict=True)
        )
        key = values[key_index]
        if key is None:
            continue  # a row no entry can claim; left alone
        existing[key] = values
        if target.flag is not None:
            flag = record[width]
            if flag_normalizer is not None and flag is not None:
                flag = flag_normalizer(flag)
            if flag:
                flagged_now.add(key)

    changes = Changes(unflag=target.flag is not None)
    counts = changes.counts
    counts.seen = len(rows)
    for key, row in rows.items():
        before = existing.get(key)
        if before is None:
            changes.inserts.append(row)
        elif before != row or key in flagged_now:
            changes.updates.append(row)
        else:
            counts.unchanged += 1
    counts.inserted = len(changes.inserts)
    counts.updated = len(changes.updates)
    if target.on_missing != "keep":
        gone = [key for key in existing if key not in rows]
        if target.on_missing == "delete":
            changes.missing = gone
            counts.deleted = len(gone)
        else:
            changes.missing = [key for key in gone if key not in flagged_now]
            counts.flagged = len(changes.missing)
    return changes


async def apply_changes(connection: AsyncConnection, target: Target, changes: Changes) -> None:
    """Write `changes` inside the caller's transaction (the caller commits or rolls back)."""
    table = _sa_table(target)
    adapters = [writer_adapter(column.kind, target.dialect) for column in target.columns]
    flag_adapter = writer_adapter(Kind.BOOLEAN, target.dialect)

    def stored(value: Any, adapter: Convert | None) -> Any:
        return adapter(value) if adapter is not None and value is not None else value

    def flag_value(flag: bool) -> Any:
        return flag_adapter(flag) if flag_adapter is not None else flag

    key = target.key
    key_adapter = adapters[target.key_index]
    parameters = [f"v{index}" for index in range(len(target.columns))]
    if changes.missing:
        keys = [{"k": stored(value, key_adapter)} for value in changes.missing]
        if target.on_missing == "delete":
            await connection.execute(sa.delete(table).where(table.c[key.name] == sa.bindparam("k")), keys)
        else:
            assert target.flag is not None
            await connection.execute(
                sa.update(table)
                .where(table.c[key.name] == sa.bindparam("k"))
                .values({target.flag.name: flag_value(True)}),
                keys,
            )
    if changes.updates:
        values: dict[str, Any] = {
            column.name: sa.bindparam(parameter)
            for index, (column, parameter) in enumerate(zip(target.columns, parameters, strict=True))
            if index != target.key_index
        }
        if changes.unflag and target.flag is not None:
            values[target.flag.name] = flag_value(False)
        statement = sa.update(table).where(table.c[key.name] == sa.bindparam("k")).values(values)
        await connection.execute(
            statement, [_bound(row, parameters, adapters, target.key_index) for row in changes.updates]
        )
    if (
        changes.inserts
        and target.dialect == "postgresql"
        and all(c.kind is not Kind.OTHER for c in target.columns)
    ):
        await _copy_inserts(connection, target, changes.inserts)
    elif changes.inserts:
        names = [column.name for column in target.columns]
        extra: dict[str, Any] = {}
        if target.flag is not None:
            extra[target.flag.name] = flag_value(False)
        rows = [
            {name: stored(value, adapter) for name, value, adapter in zip(names, row, adapters, strict=True)}
            | extra
            for row in changes.inserts
        ]
        await connection.execute(sa.insert(table), rows)


async def _copy_inserts(connection: AsyncConnection, target: Target, rows: list[tuple[Any, ...]]) -> None:
    """New rows through COPY on PostgreSQL: several times faster than INSERTs, in the same transaction
    (the comparison's SELECT began it on this very connection)."""
    schema, name = split_table_name(target.table)
    columns = [column.name for column in target.columns]
    records: Sequence[tuple[Any, ...]] = rows
    if target.flag is not None:
        columns.append(target.flag.name)
        records = [(*row, False) for row in rows]
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        name, records=records, columns=columns, schema_name=schema
    )


def _bound(
    row: Sequence[Any], parameters: list[str], adapters: list[Convert | None], key_index: int
) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    for index, (value, parameter, adapter) in enumerate(zip(row, parameters, adapters, strict=True)):
        stored = adapter(value) if adapter is not None and value is not None else value
        if index == key_index:
            bound["k"] = stored
        else:
            bound[parameter] = stored
    return bound
