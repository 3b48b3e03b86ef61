"""MariaDB and MySQL through asyncmy."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio

from nomaflow.actors.errors import StepFailure
from nomaflow.engine.resources.connectors import Dialect
from nomaflow.engine.steps.sql.copy_plan import CopyFailed, Plan
from nomaflow.engine.steps.sql.copy_text import mariadb_rejection
from nomaflow.engine.steps.sql.dialects import mysql_infile
from nomaflow.engine.steps.sql.dialects.base import CopyJob, Database, Loaded
from nomaflow.engine.steps.sql.names import Column, ResultColumn, TableName, side_name
from nomaflow.engine.steps.sql.types import Kind, SqlType, parse_mysql

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
# A LOAD DATA session: strict, and without notes (so that the first warning is the first problem).
_STRICT_SESSION = (
    "SET @nf_sql_mode = @@SESSION.sql_mode, @nf_sql_notes = @@SESSION.sql_notes, "
    "SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), SESSION sql_notes = 0"
)
_RESTORE_SESSION = "SET SESSION sql_mode = @nf_sql_mode, SESSION sql_notes = @nf_sql_notes"
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

        # asyncmy reads the socket whenever data arrives, however far behind its reader is: a consumer
        # slower than the server (a copy converting in Python) would let the whole result pile up in
        # its buffer (518 MiB for a million rows). Reading is paused between two batches, so TCP's own
        # flow control holds the server back instead.
        transport = self.driver._proto.transport
        cursor = self.driver.cursor(SSCursor)
        try:
            await cursor.execute(sql, tuple(args))
            while True:
                transport.resume_reading()
                rows = await cursor.fetchmany(size)
                transport.pause_reading()
                if not rows:
                    return
                yield rows
        finally:
            transport.resume_reading()
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

    # --- loading a copy: DDL commits on its own here, so `replace` loads a staging table in a transaction
    # and swaps it in with one atomic RENAME TABLE; a failure drops the staging table ---

    async def load(self, job: CopyJob) -> Loaded:
        lock = f"nomaflow.sql_copy:{job.table}"[:64]
        # Two copies into one table at once would swap each other's staging tables away: serialize them.
        got = (await self.fetch("SELECT GET_LOCK(%s, %s)", (lock, 60)))[0][0]
        if got != 1:
            raise StepFailure(f"step '{job.step}': another copy into '{job.table}' held its lock for 60 s")
        try:
            existing = await self.table_columns(job.table)
            plan = await job.plan_for(self, existing)
            if job.mode == "replace":
                await self._replace(job, plan, existing is not None)
            else:
                await self._add(job, plan, existing is not None)
            return Loaded(plan, created=existing is None)
        finally:
            # A dead connection released the lock already.
            with anyio.CancelScope(shield=True), suppress(Exception):
                await self.fetch("SELECT RELEASE_LOCK(%s)", (lock,))

    async def _replace(self, job: CopyJob, plan: Plan, exists: bool) -> None:
        table = job.table
        stage = table.with_name(side_name(table.name, "stage"))
        if exists:
            await self.execute(f"CREATE TABLE {self.qualified(stage)} LIKE {self.qualified(table)}")
        else:
            await self.execute(self.create_table_sql(stage, plan, ()))
        try:
            async with self.write_transaction():
                await self.insert_rows(job, plan, stage)
            if not exists:
                await self.execute(f"RENAME TABLE {self.qualified(stage)} TO {self.qualified(table)}")
                return
            old = table.with_name(side_name(table.name, "old"))
            await self.execute(
                f"RENAME TABLE {self.qualified(table)} TO {self.qualified(old)}, "
                f"{self.qualified(stage)} TO {self.qualified(table)}"
            )
            await self.execute(f"DROP TABLE {self.qualified(old)}")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await job.drop_quietly(self, stage)
            raise

    async def _add(self, job: CopyJob, plan: Plan, exists: bool) -> None:
        """append and upsert: one transaction; a table created for them is dropped again on failure."""
        if not exists:
            await self.execute(self.create_table_sql(job.table, plan, job.key))
        try:
            async with self.write_transaction():
                await self.insert_rows(job, plan, job.table)
        except BaseException:
            if not exists:
                with anyio.CancelScope(shield=True):
                    await job.drop_quietly(self, job.table)
            raise

    async def insert_rows(self, job: CopyJob, plan: Plan, into: TableName) -> None:
        """Append or replace: the rows streamed into LOAD DATA LOCAL INFILE (see mysql_infile), as the
        source's own text when the plan relays them. Upserts keep INSERT ... ON DUPLICATE KEY UPDATE,
        which LOAD DATA has no form of, and so do columns of a type the map does not know."""
        kinds = [t.kind for t in plan.types]
        if job.key or Kind.OTHER in kinds:
            # Types the map does not know (bit, geometry...) have no text form it could write safely.
            await super().insert_rows(job, plan, into)
            return
        if plan.relay:
            try:
                await job.relay_text(self, plan, into)
                return
            except mysql_infile.Refused as exc:
                job.log(f"LOAD DATA LOCAL INFILE is not allowed here ({exc}); loading with INSERTs")
            await super().insert_rows(job, plan, into)
            return
        async with job.batches(plan) as batches:
            chunks = mysql_infile.Encoded(batches, mysql_infile.encoders(kinds), job.counted)
            try:
                await self.load_stream(job.step, into, plan, chunks)
            except mysql_infile.Refused as exc:
                # The server (or the connector's ?local_infile=0) allows no LOCAL INFILE: INSERTs then.
                job.log(f"LOAD DATA LOCAL INFILE is not allowed here ({exc}); loading with INSERTs")
                await self.insert_batches(job, self.insert_sql(into, plan.names, ()), batches)

    async def load_stream(self, step: str, into: TableName, plan: Plan, chunks: mysql_infile.Stream) -> int:
        """LOAD DATA LOCAL INFILE of `chunks` (the load's text format) into `into`; the rows loaded.

        With LOCAL the server cannot stop the client mid-file, so it takes every bad value or duplicate
        key with a warning, as if IGNORE were given, and loads a truncated or zeroed value instead. The
        load runs in strict mode without notes (a value rounded to the column's scale is a note, as for
        an INSERT), and its first warning fails the copy, naming the row and column. Raises
        mysql_infile.Refused if the server refuses LOCAL INFILE before any data was asked for."""
        kinds = [t.kind for t in plan.types]
        name = mysql_infile.stream_name()
        statement = mysql_infile.load_statement(self.quote, self.qualified(into), plan.names, kinds, name)
        await self.execute(_STRICT_SESSION)
        mysql_infile.serve(self.driver, name, chunks)
        try:
            rows = await self.execute(statement)
            warnings = await self.fetch("SHOW WARNINGS LIMIT 1")
        except Exception as exc:
            if chunks.started or not mysql_infile.refused(exc):
                raise
            await self.execute(_RESTORE_SESSION)  # the connection goes on, with INSERTs
            raise mysql_infile.Refused(str(exc)) from None
        finally:
            mysql_infile.serve(self.driver, name, None)
        await self.execute(_RESTORE_SESSION)
        if warnings:
            _, code, message = warnings[0]
            raise CopyFailed(f"step '{step}': {mariadb_rejection(code, message)}")
        return rows

    async def backslash_escapes(self) -> bool:
        """Whether string literals read backslash escapes in this session (not NO_BACKSLASH_ESCAPES)."""
        mode = (await self.fetch("SELECT @@SESSION.sql_mode"))[0][0]
        return "NO_BACKSLASH_ESCAPES" not in str(mode).upper()

    def insert_sql(self, into: TableName, names: Sequence[str], key: Sequence[str]) -> str:
        marks = ", ".join(["%s"] * len(names))
        statement = f"INSERT INTO {self.qualified(into)} ({self.column_list(names)}) VALUES ({marks})"
        if not key:
            return statement
        # With only key columns there is nothing to update: a no-op assignment keeps the syntax.
        others = [n for n in names if n not in key]
        first = self.quote(names[0])
        updates = ", ".join(f"{self.quote(n)} = VALUES({self.quote(n)})" for n in others)
        return f"{statement} ON DUPLICATE KEY UPDATE {updates or f'{first} = {first}'}"
