"""What the SQL steps do on each kind of database, through its driver: bind parameters, read through a
server-side cursor, describe a query's or a table's columns, and run statements.

One class per dialect (PostgreSQL via asyncpg, MariaDB/MySQL via asyncmy, SQLite via aiosqlite) behind
the same methods, so the steps read the same whatever the database.
"""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import msgspec

from nomaflow.engine.resources.connectors import Dialect, Link
from nomaflow.engine.resources.queries import Template
from nomaflow.engine.steps.sql.types import (
    Kind,
    SqlType,
    ValueMismatch,
    describe_value,
    parse_mysql,
    parse_postgres,
    parse_sqlite,
    to_kind,
)

_NAME = re.compile(r"^[^\W\d]\w*$")
MAX_NAME = 63  # PostgreSQL's limit (MariaDB allows 64): one rule for every database


class BadName(ValueError):
    pass


def check_name(name: str, what: str) -> str:
    """`name` if it is a plain identifier (letters, digits, '_'; not starting with a digit)."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name.encode()) > MAX_NAME:
        raise BadName(
            f"{what} {describe_value(name)} is not a valid name "
            f"(letters, digits and '_', not starting with a digit, at most {MAX_NAME} bytes)"
        )
    return name


@dataclass(frozen=True)
class TableName:
    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str, what: str = "table") -> TableName:
        """`"table"` or `"schema.table"`, each part a valid name."""
        parts = text.split(".") if isinstance(text, str) else [text]
        if len(parts) > 2:
            raise BadName(
                f"{what} {describe_value(text)} is not a valid name (expected 'table' or 'schema.table')"
            )
        if len(parts) == 2:
            return cls(check_name(parts[0], f"schema of {what}"), check_name(parts[1], what))
        return cls(None, check_name(parts[0], what))

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def with_name(self, name: str) -> TableName:
        return TableName(self.schema, name)


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    nullable: bool = True
    generated: bool = False  # computed by the database: never written


@dataclass(frozen=True)
class ResultColumn:
    name: str
    kind: Kind


def side_name(base: str, tag: str) -> str:
    """A helper table's name beside `base` (`orders__nf_stage_1a2b3c4d`), within the length limit."""
    suffix = f"__nf_{tag}_{secrets.token_hex(4)}"
    trimmed = base.encode()[: MAX_NAME - len(suffix)].decode(errors="ignore")
    return trimmed + suffix


class Database(ABC):
    """A borrowed connection seen through its dialect."""

    dialect: Dialect

    def __init__(self, link: Link) -> None:
        self.link = link
        self.driver: Any = link.driver

    @staticmethod
    def of(link: Link) -> Database:
        kinds: dict[str, type[Database]] = {"postgresql": Postgres, "mysql": MySql, "sqlite": Sqlite}
        return kinds[link.dialect](link)

    # --- names ---

    @abstractmethod
    def quote(self, name: str) -> str: ...

    def qualified(self, table: TableName) -> str:
        name = self.quote(table.name)
        return f"{self.quote(table.schema)}.{name}" if table.schema else name

    def column_list(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    # --- parameters ---

    async def bind(self, template: Template, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL in the driver's style with its arguments, converted to what the driver takes."""
        sql, args = template.render(self.dialect, params)
        return sql, [
            self._plain_param(name, value)
            for name, value in zip(self._arg_names(template), args, strict=True)
        ]

    def _arg_names(self, template: Template) -> list[str]:
        return list(template.names)

    def _plain_param(self, name: str, value: Any) -> Any:
        if isinstance(value, dict):
            return msgspec.json.encode(value).decode()
        return value

    # --- reading ---

    @abstractmethod
    def read_transaction(self, readonly: bool = True) -> Any:
        """An async context manager: a transaction with one consistent snapshot, read-only unless
        `readonly` is False (PostgreSQL's exact column types need a temporary table)."""

    @abstractmethod
    async def describe(self, sql: str, args: Sequence[Any], table: TableName | None) -> list[Column]:
        """The columns `sql` returns, with their types as exact as the database tells."""

    @abstractmethod
    def batches(
        self, sql: str, args: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
        """The rows of `sql`, `size` at a time, from a server-side cursor (memory independent of the
        total)."""

    @abstractmethod
    async def result_columns(self, sql: str, args: Sequence[Any]) -> list[ResultColumn]: ...

    async def count(self, sql: str, args: Sequence[Any]) -> int:
        rows = await self.fetch(f"SELECT count(*) FROM (\n{sql}\n) AS nf_counted", args)
        return int(rows[0][0])

    @abstractmethod
    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    # --- writing ---

    @asynccontextmanager
    async def write_transaction(self, *, commit: bool = True) -> AsyncIterator[None]:
        """A read-write transaction, committed at the end unless `commit` is False (then rolled back, as
        after any error)."""
        await self._begin()
        async with self._finishing(self._commit if commit else self._rollback):
            yield

    @asynccontextmanager
    async def _finishing(self, finish: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
        """The body of a transaction just begun: `finish` it if the body succeeds; on any error roll
        it back (shielded, quietly: never hide why the body failed behind why rollback did)."""
        try:
            yield
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._quiet_rollback()
            raise
        await finish()

    async def _quiet_rollback(self, transaction: Any = None) -> None:
        # The connection may be dead (that may be the error): the original error is what matters, and
        # the connection is discarded anyway.
        with suppress(Exception):
            await (transaction.rollback() if transaction is not None else self._rollback())

    @abstractmethod
    async def _begin(self) -> None: ...

    @abstractmethod
    async def _commit(self) -> None: ...

    @abstractmethod
    async def _rollback(self) -> None: ...

    @abstractmethod
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it touched (-1 when the driver cannot tell)."""

    @abstractmethod
    async def write(
        self, sql: str, args: Sequence[Any], keep: int
    ) -> tuple[int, list[str], list[Sequence[Any]]]:
        """Run a write query in the current transaction: rows touched, and any rows it returned (the
        first `keep`) with their column names."""

    # --- catalog ---

    @abstractmethod
    async def table_columns(self, table: TableName) -> list[Column] | None:
        """The table's columns in order, or None if there is no such table."""

    @abstractmethod
    async def table_names(self, schema: str | None) -> list[str]: ...


# --- PostgreSQL --------------------------------------------------------------------------------------


def _pg_kind(type_name: str) -> Kind:
    return parse_postgres(type_name).kind


class Postgres(Database):
    dialect: Dialect = "postgresql"

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    async def bind(self, template: Template, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        # asyncpg sends parameters in binary, typed as the server inferred them: '2024-05-01' must become
        # a date for a date parameter. Templates render text, so convert by the statement's own types.
        sql, args = template.render(self.dialect, params)
        if not args:
            return sql, args
        statement = await self.driver.prepare(sql)
        names = template.params  # $1, $2... follow the order of first use
        converted = []
        for name, value, pg_type in zip(names, args, statement.get_parameters(), strict=True):
            converted.append(self._convert_param(name, value, pg_type))
        return sql, converted

    def _convert_param(self, name: str, value: Any, pg_type: Any) -> Any:
        if value is None:
            return None
        if pg_type.kind == "array":
            if not isinstance(value, list | tuple):
                raise ValueMismatch(f"parameter '{name}' = {describe_value(value)}: expected a list")
            element = pg_type.name.removesuffix("[]").lstrip("_")
            return [None if v is None else self._scalar(name, v, element) for v in value]
        return self._scalar(name, value, pg_type.name)

    def _scalar(self, name: str, value: Any, type_name: str) -> Any:
        kind = _pg_kind(type_name)
        if kind is Kind.OTHER:
            return value if isinstance(value, str) else str(value)
        try:
            return to_kind(kind)(value)
        except ValueMismatch as exc:
            raise ValueMismatch(
                f"parameter '{name}' = {describe_value(value)}: {exc} (the query uses it as {type_name})"
            ) from None

    @asynccontextmanager
    async def read_transaction(self, readonly: bool = True) -> AsyncIterator[None]:
        self._transaction = self.driver.transaction(isolation="repeatable_read", readonly=readonly)
        await self._transaction.start()
        async with self._finishing(self._transaction.commit):
            yield

    async def describe(self, sql: str, args: Sequence[Any], table: TableName | None) -> list[Column]:
        # CREATE TABLE AS ... WITH NO DATA runs nothing, but types the result exactly (numeric(12,2),
        # varchar(40)), which the wire protocol's row description does not. Rolled back at once (to a
        # savepoint, inside the caller's transaction).
        if not await self.driver.fetchval(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY') AND NOT pg_is_in_recovery()"
        ):
            # A read-only replica, or a role without TEMP: the row description has the types without
            # their modifiers (numeric, not numeric(12,2)), which is enough to copy.
            statement = await self.driver.prepare(sql)
            return [Column(a.name, parse_postgres(a.type.name)) for a in statement.get_attributes()]
        probe = side_name("probe", "p")
        transaction = self.driver.transaction()
        await transaction.start()
        try:
            await self.driver.execute(f"CREATE TEMP TABLE {self.quote(probe)} AS\n{sql}\nWITH NO DATA", *args)
            rows = await self.driver.fetch(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                f"pg_temp.{self.quote(probe)}",
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._quiet_rollback(transaction)
            raise
        await transaction.rollback()
        return [Column(r[0], parse_postgres(r[1])) for r in rows]

    async def batches(
        self, sql: str, args: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
        statement = await self.driver.prepare(sql)
        cursor = await statement.cursor(*args)
        while True:
            rows = await cursor.fetch(size)
            if not rows:
                return
            yield rows

    async def result_columns(self, sql: str, args: Sequence[Any]) -> list[ResultColumn]:
        statement = await self.driver.prepare(sql)
        return [ResultColumn(a.name, _pg_kind(a.type.name)) for a in statement.get_attributes()]

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self.driver.fetch(sql, *args))

    async def _begin(self) -> None:
        self._transaction = self.driver.transaction()
        await self._transaction.start()

    async def _commit(self) -> None:
        await self._transaction.commit()

    async def _rollback(self) -> None:
        await self._transaction.rollback()

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        status = await self.driver.execute(sql, *args)
        return _status_count(status)

    async def write(
        self, sql: str, args: Sequence[Any], keep: int
    ) -> tuple[int, list[str], list[Sequence[Any]]]:
        statement = await self.driver.prepare(sql)
        attributes = statement.get_attributes()
        if not attributes:
            await statement.fetch(*args)
            return _status_count(statement.get_statusmsg()), [], []
        kept: list[Sequence[Any]] = []
        count = 0
        cursor = await statement.cursor(*args)
        while rows := await cursor.fetch(1000):
            count += len(rows)
            kept.extend(rows[: max(0, keep - len(kept))])
        return count, [a.name for a in attributes], kept

    async def table_columns(self, table: TableName) -> list[Column] | None:
        oid = await self.driver.fetchval("SELECT to_regclass($1)::oid", self.qualified(table))
        if oid is None:
            return None
        rows = await self.driver.fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "a.attgenerated <> '' FROM pg_attribute a "
            "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            oid,
        )
        return [Column(r[0], parse_postgres(r[1]), r[2], r[3]) for r in rows]

    async def table_names(self, schema: str | None) -> list[str]:
        rows = await self.driver.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = coalesce($1, current_schema())",
            schema,
        )
        return [r[0] for r in rows]


def _status_count(status: str | None) -> int:
    """asyncpg's command tag ("UPDATE 3", "INSERT 0 3", "COPY 3") as a row count."""
    if not status:
        return -1
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


# --- MariaDB / MySQL ---------------------------------------------------------------------------------

# asyncmy's FIELD_TYPE codes, for describing a query's result.
_MY_CODES: dict[int, Kind] = {
    0: Kind.NUMERIC,
    246: Kind.NUMERIC,
    1: Kind.SMALLINT,
    2: Kind.SMALLINT,
    9: Kind.INTEGER,
    3: Kind.INTEGER,
    8: Kind.BIGINT,
    13: Kind.SMALLINT,
    4: Kind.REAL,
    5: Kind.DOUBLE,
    7: Kind.TIMESTAMPTZ,
    10: Kind.DATE,
    14: Kind.DATE,
    11: Kind.TIME,
    12: Kind.TIMESTAMP,
    245: Kind.JSON,
    15: Kind.TEXT,
    253: Kind.TEXT,
    254: Kind.TEXT,
    247: Kind.TEXT,
    248: Kind.TEXT,
    249: Kind.TEXT,
    250: Kind.TEXT,
    251: Kind.TEXT,
    252: Kind.TEXT,
    16: Kind.BINARY,
}
_BINARY_CHARSET = 63
_UNSIGNED_FLAG = 32


class MySql(Database):
    dialect: Dialect = "mysql"

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    @asynccontextmanager
    async def read_transaction(self, readonly: bool = True) -> AsyncIterator[None]:
        await self.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        async with self._finishing(self._rollback):
            yield

    async def describe(self, sql: str, args: Sequence[Any], table: TableName | None) -> list[Column]:
        if table is not None:
            columns = await self.table_columns(table)
            if columns is not None:
                return columns
        from asyncmy.cursors import SSCursor

        cursor = self.driver.cursor(SSCursor)
        try:
            await cursor.execute(f"SELECT * FROM (\n{sql}\n) AS nf_described LIMIT 0", tuple(args))
            return self._from_fields(cursor)
        finally:
            await cursor.close()

    def _from_fields(self, cursor: Any) -> list[Column]:
        columns = []
        fields = getattr(getattr(cursor, "_result", None), "fields", None) or []
        for index, described in enumerate(cursor.description or ()):
            name, code, _, length, _, scale = described[:6]
            field = fields[index] if index < len(fields) else None
            charset = getattr(field, "charsetnr", None)
            flags = getattr(field, "flags", 0) or 0
            kind = _MY_CODES.get(code, Kind.OTHER)
            precision = None
            if kind is Kind.SMALLINT and code == 1 and length == 1:
                kind = Kind.BOOLEAN
            if kind is Kind.TEXT and charset == _BINARY_CHARSET:
                kind = Kind.BINARY
            if kind is Kind.NUMERIC and length:
                precision = int(length) - (1 if scale else 0) - (0 if flags & _UNSIGNED_FLAG else 1)
            declared = kind.value if precision is None else f"decimal({precision},{scale})"
            columns.append(Column(name, SqlType(kind, declared, precision, scale if precision else None)))
        return columns

    async def batches(
        self, sql: str, args: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
        from asyncmy.cursors import SSCursor

        cursor = self.driver.cursor(SSCursor)
        try:
            await cursor.execute(sql, tuple(args))
            while rows := await cursor.fetchmany(size):
                yield rows
        finally:
            await cursor.close()

    async def result_columns(self, sql: str, args: Sequence[Any]) -> list[ResultColumn]:
        return [ResultColumn(c.name, c.type.kind) for c in await self.describe(sql, args, None)]

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        cursor = self.driver.cursor()
        try:
            await cursor.execute(sql, tuple(args))
            return list(await cursor.fetchall())
        finally:
            await cursor.close()

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cursor = self.driver.cursor()
        try:
            await cursor.execute(sql, tuple(args) if args else None)
            return int(cursor.rowcount)
        finally:
            await cursor.close()

    async def _begin(self) -> None:
        await self.execute("START TRANSACTION")

    async def _commit(self) -> None:
        await self.driver.commit()

    async def _rollback(self) -> None:
        await self.driver.rollback()

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = self.driver.cursor()
        try:
            await cursor.executemany(sql, rows)
        finally:
            await cursor.close()

    async def write(
        self, sql: str, args: Sequence[Any], keep: int
    ) -> tuple[int, list[str], list[Sequence[Any]]]:
        cursor = self.driver.cursor()
        try:
            await cursor.execute(sql, tuple(args))
            count = int(cursor.rowcount)
            if not cursor.description:
                return count, [], []
            names = [d[0] for d in cursor.description]
            rows = list(await cursor.fetchall())
            return len(rows), names, rows[:keep]
        finally:
            await cursor.close()

    async def table_columns(self, table: TableName) -> list[Column] | None:
        schema_sql = "%s" if table.schema else "DATABASE()"
        schema_arg = (table.schema,) if table.schema else ()
        rows = await self.fetch(
            "SELECT column_name, column_type, is_nullable = 'YES', extra LIKE '%%GENERATED%%' "
            f"FROM information_schema.columns WHERE table_schema = {schema_sql} AND table_name = %s "
            "ORDER BY ordinal_position",
            (*schema_arg, table.name),
        )
        if not rows:
            return None
        checks = await self.fetch(
            "SELECT check_clause FROM information_schema.check_constraints "
            f"WHERE constraint_schema = {schema_sql} AND table_name = %s",
            (*schema_arg, table.name),
        )
        json_columns = {
            m.group(1) for (clause,) in checks if (m := re.match(r"json_valid\(`(.+)`\)$", clause))
        }
        return [
            Column(name, parse_mysql(declared, is_json=name in json_columns), bool(nullable), bool(generated))
            for name, declared, nullable, generated in rows
        ]

    async def table_names(self, schema: str | None) -> list[str]:
        schema_sql = "%s" if schema else "DATABASE()"
        rows = await self.fetch(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema_sql}",
            (schema,) if schema else (),
        )
        return [r[0] for r in rows]


# --- SQLite ------------------------------------------------------------------------------------------


class Sqlite(Database):
    dialect: Dialect = "sqlite"

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def _plain_param(self, name: str, value: Any) -> Any:
        if isinstance(value, dict | list):
            return msgspec.json.encode(value).decode()
        if isinstance(value, Decimal):
            return str(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value

    @asynccontextmanager
    async def read_transaction(self, readonly: bool = True) -> AsyncIterator[None]:
        await self.driver.execute("BEGIN DEFERRED")
        async with self._finishing(self._rollback):
            yield

    async def describe(self, sql: str, args: Sequence[Any], table: TableName | None) -> list[Column]:
        if table is not None:
            columns = await self.table_columns(table)
            if columns is not None:
                return columns
        # A temporary view over the query gives each column the declared type of what it selects.
        # Views take no parameters; the types do not depend on them, so NULL stands in for each.
        view = side_name("probe", "v")
        probe_sql = _null_placeholders(sql) if args else sql
        await self.driver.execute(f"CREATE TEMP VIEW {self.quote(view)} AS\n{probe_sql}")
        try:
            rows = await self.fetch(f"PRAGMA temp.table_info({self.quote(view)})")
        finally:
            await self.driver.execute(f"DROP VIEW temp.{self.quote(view)}")
        return [Column(r[1], parse_sqlite(r[2] or "")) for r in rows]

    async def batches(
        self, sql: str, args: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
        cursor = await self.driver.execute(sql, tuple(args))
        try:
            while rows := await cursor.fetchmany(size):
                yield rows
        finally:
            await cursor.close()

    async def result_columns(self, sql: str, args: Sequence[Any]) -> list[ResultColumn]:
        return [ResultColumn(c.name, c.type.kind) for c in await self.describe(sql, args, None)]

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        cursor = await self.driver.execute(sql, tuple(args))
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cursor = await self.driver.execute(sql, tuple(args))
        try:
            return int(cursor.rowcount)
        finally:
            await cursor.close()

    async def _begin(self) -> None:
        await self.driver.execute("BEGIN IMMEDIATE")

    async def _commit(self) -> None:
        await self.driver.execute("COMMIT")

    async def _rollback(self) -> None:
        await self.driver.execute("ROLLBACK")

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.driver.executemany(sql, rows)

    async def write(
        self, sql: str, args: Sequence[Any], keep: int
    ) -> tuple[int, list[str], list[Sequence[Any]]]:
        cursor = await self.driver.execute(sql, tuple(args))
        try:
            if not cursor.description:
                return int(cursor.rowcount), [], []
            names = [d[0] for d in cursor.description]
            rows = list(await cursor.fetchall())
            return len(rows), names, rows[:keep]
        finally:
            await cursor.close()

    async def table_columns(self, table: TableName) -> list[Column] | None:
        schema = self.quote(table.schema or "main")
        rows = await self.fetch(f"PRAGMA {schema}.table_xinfo({self.quote(table.name)})")
        if not rows:
            return None
        # table_xinfo's `hidden`: 0 a plain column, 1 hidden (virtual tables), 2 or 3 generated.
        return [Column(r[1], parse_sqlite(r[2] or ""), not r[3], r[6] in (2, 3)) for r in rows if r[6] != 1]

    async def table_names(self, schema: str | None) -> list[str]:
        rows = await self.fetch(
            f"SELECT name FROM {self.quote(schema or 'main')}.sqlite_master WHERE type IN ('table', 'view')"
        )
        return [r[0] for r in rows]


def _null_placeholders(sql: str) -> str:
    """The SQL with each `?` placeholder written by `Template.render` replaced by NULL.

    The template put every `?` outside quotes and comments, and a `?` inside a literal is kept, because
    the text is re-parsed here with the same rules."""
    from nomaflow.engine.resources.queries import parse_sql

    template = parse_sql(sql.replace("?", ":nf_p"), "sqlite")
    out: list[str] = []
    for index, part in enumerate(template.parts):
        out.append(part.replace(":nf_p", "?"))
        if index < len(template.names):
            out.append("NULL")
    return "".join(out)
