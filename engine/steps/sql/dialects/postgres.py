"""PostgreSQL through asyncpg."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio

from nomaflow.engine.resources.connectors import Dialect
from nomaflow.engine.resources.queries import Template
from nomaflow.engine.steps.sql.copy_plan import Plan
from nomaflow.engine.steps.sql.dialects.base import CopyJob, Database, Loaded
from nomaflow.engine.steps.sql.names import Column, ResultColumn, TableName, side_name
from nomaflow.engine.steps.sql.types import Kind, ValueMismatch, describe_value, parse_postgres
from nomaflow.engine.steps.sql.values import to_kind


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

    # --- loading a copy: one transaction; `replace` loads a staging table and swaps it in at the end ---

    async def load(self, job: CopyJob) -> Loaded:
        table = job.table
        async with self.write_transaction():
            existing = await self.table_columns(table)
            plan = await job.plan_for(self, existing)
            if existing is None:
                await self.execute(self.create_table_sql(table, plan, job.key))
            if job.mode == "replace" and existing is not None:
                stage = table.with_name(side_name(table.name, "stage"))
                await self.execute(
                    f"CREATE TABLE {self.qualified(stage)} (LIKE {self.qualified(table)} INCLUDING ALL)"
                )
                await self.write_rows(job, plan, stage)
                await self.swap(table, stage)
            elif job.mode == "upsert":
                await self._upsert(job, plan)
            else:
                await self.write_rows(job, plan, table)
        return Loaded(plan, created=existing is None)

    async def write_rows(self, job: CopyJob, plan: Plan, into: TableName) -> None:
        if plan.passthrough or plan.recoded:
            await job.relay(self, plan, into)
            return
        if plan.relay:
            await job.relay_text(self, plan, into)
            return
        # One COPY per batch, from a plain list: asyncpg encodes it in one tight loop, where an async
        # iterator would cost a coroutine switch per row. Still one transaction, so still all or nothing.
        async with job.batches(plan) as batches:
            async for batch in batches:
                await self.driver.copy_records_to_table(
                    into.name, schema_name=into.schema, columns=plan.names, records=batch
                )
                job.counted(len(batch))

    async def _upsert(self, job: CopyJob, plan: Plan) -> None:
        """COPY into a temporary table, then one INSERT ... ON CONFLICT from it."""
        stage = TableName(None, side_name(job.table.name, "upsert"))
        await self.execute(
            f"CREATE TEMP TABLE {self.quote(stage.name)} (LIKE {self.qualified(job.table)} "
            "INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        await self.write_rows(job, plan, TableName("pg_temp", stage.name))
        names = self.column_list(plan.names)
        await self.execute(
            f"INSERT INTO {self.qualified(job.table)} ({names}) SELECT {names} "
            f"FROM pg_temp.{self.quote(stage.name)} {self._on_conflict(plan.names, job.key)}"
        )

    def _on_conflict(self, names: Sequence[str], key: Sequence[str]) -> str:
        others = [n for n in names if n not in key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{self.quote(n)} = EXCLUDED.{self.quote(n)}" for n in others)
            if others
            else "DO NOTHING"
        )
        return f"ON CONFLICT ({self.column_list(key)}) {action}"

    def insert_sql(self, into: TableName, names: Sequence[str], key: Sequence[str]) -> str:
        marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        statement = f"INSERT INTO {self.qualified(into)} ({self.column_list(names)}) VALUES ({marks})"
        return f"{statement} {self._on_conflict(names, key)}" if key else statement

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.driver.executemany(sql, rows)

    async def copy_out(
        self,
        sql: str,
        args: Sequence[Any],
        output: Callable[[bytes], Awaitable[Any]],
        format: Literal["binary", "text"] = "binary",
    ) -> None:
        """The rows of `sql` as COPY data (binary, or text as the session's settings spell it), chunk by
        chunk into `output`."""
        try:
            await self.driver.copy_from_query(sql, *args, output=output, format=format)
        except BaseException:
            # When the output fails (a bad row, or the target failing first), asyncpg cancels the COPY and
            # holds the connection until the server acknowledges it; if the server had already sent
            # everything, nothing ever will, and the rollback would wait forever. The connection is
            # discarded after an error anyway: close it now.
            self.driver.terminate()
            raise

    async def copy_in(
        self,
        into: TableName,
        names: Sequence[str],
        chunks: AsyncIterator[bytes],
        format: Literal["binary", "text"] = "binary",
    ) -> int:
        """COPY data (binary or text) from `chunks` into `into`; the rows it held."""
        status = await self.driver.copy_to_table(
            into.name, schema_name=into.schema, columns=list(names), source=chunks, format=format
        )
        return _status_count(status)

    async def settings(self, statements: Sequence[str]) -> None:
        """`SET LOCAL` statements, for the rest of the current transaction."""
        for statement in statements:
            await self.driver.execute(statement)

    async def iso_dates(self) -> bool:
        """Whether the session writes dates and times in ISO style (the default DateStyle)."""
        style = await self.driver.fetchval("SELECT current_setting('DateStyle')")
        return str(style).upper().startswith("ISO")

    async def swap(self, table: TableName, stage: TableName) -> None:
        """Put `stage` in the place of `table`, inside the caller's transaction.

        The renames take an exclusive lock only for the instant before the commit; a reader waiting on
        it then resolves the name again and reads the new table. Index names, sequences owned by the old
        table's columns and identity counters are carried over, so the result looks like the old one."""
        q = self.qualified
        old_indexes, new_indexes = await self._indexes(table), await self._indexes(stage)
        owned = await self.fetch(
            "SELECT s.oid::regclass::text, a.attname FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.refobjid = $1::regclass AND d.deptype = 'a'",
            [q(table)],
        )
        for sequence, column in owned:
            await self.execute(f"ALTER SEQUENCE {sequence} OWNED BY {q(stage)}.{self.quote(column)}")
        identities = await self.fetch(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attidentity <> ''",
            [q(table)],
        )
        for (column,) in identities:
            await self.execute(
                "SELECT setval(pg_get_serial_sequence($2, $3), s.last_value, s.is_called) "
                "FROM pg_sequences s WHERE (s.schemaname || '.' || s.sequencename)::regclass "
                "= pg_get_serial_sequence($1, $3)::regclass",
                [q(table), q(stage), column],
            )
        old = table.with_name(side_name(table.name, "old"))
        await self.execute(f"ALTER TABLE {q(table)} RENAME TO {self.quote(old.name)}")
        await self.execute(f"ALTER TABLE {q(stage)} RENAME TO {self.quote(table.name)}")
        await self.execute(f"DROP TABLE {q(old)}")
        schema = f"{self.quote(table.schema)}." if table.schema else ""
        for shape, name in new_indexes.items():
            wanted = old_indexes.get(shape)
            if wanted is not None and wanted != name:
                await self.execute(f"ALTER INDEX {schema}{self.quote(name)} RENAME TO {self.quote(wanted)}")

    async def _indexes(self, table: TableName) -> dict[str, str]:
        """The table's indexes by shape (their definition with the index and table names taken out)."""
        rows = await self.fetch(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY c.relname",
            [self.qualified(table)],
        )
        shapes: dict[str, str] = {}
        for name, definition in rows:
            head, _, tail = definition.partition(" USING ")
            shape = f"{head.startswith('CREATE UNIQUE')}|{tail}"
            while shape in shapes:  # two indexes of one shape: keep them apart, in name order
                shape += "'"
            shapes[shape] = name
        return shapes


def _status_count(status: str | None) -> int:
    """asyncpg's command tag ("UPDATE 3", "INSERT 0 3", "COPY 3") as a row count."""
    if not status:
        return -1
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1
