"""SQLite through aiosqlite."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec

from nomaflow.engine.resources.connectors import Dialect
from nomaflow.engine.steps.sql.copy_plan import Plan
from nomaflow.engine.steps.sql.dialects.base import CopyJob, Database, Loaded
from nomaflow.engine.steps.sql.names import Column, ResultColumn, TableName, side_name
from nomaflow.engine.steps.sql.types import parse_sqlite


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

    async def rowid_table(self, table: TableName) -> bool:
        """Whether `table` is a table (not a view) with rowids (not WITHOUT ROWID) that no column of its
        own shadows."""
        schema = self.quote(table.schema or "main")
        try:
            kind = await self.fetch(
                f"SELECT type FROM {schema}.sqlite_master WHERE name = ? COLLATE NOCASE", (table.name,)
            )
            await self.fetch(f"SELECT rowid FROM {self.qualified(table)} LIMIT 0")
            columns = await self.table_columns(table)
        except sqlite3.Error:
            return False
        if kind != [("table",)] or columns is None:
            return False
        return all(c.name.lower() != "rowid" for c in columns)

    async def line_chunks(
        self, line: str, table: TableName, size: int
    ) -> AsyncGenerator[tuple[str, int], None]:
        """The rows of a `rowid_table` as `line` (an expression over its columns), `size` rows at a time
        joined by newlines, in rowid order; with the count of each chunk's rows. SQLite joins the lines
        itself, one statement a chunk that keeps no Python lock: a cursor would make a Python tuple and
        string of every row."""
        chunk = (
            "SELECT group_concat(nf_line, char(10)), max(nf_rowid), count(*) FROM ("
            f"SELECT {line} AS nf_line, rowid AS nf_rowid FROM {self.qualified(table)} "
            "WHERE rowid {after} ? ORDER BY rowid LIMIT ?)"
        )
        # A range on rowid, not an OFFSET: each chunk starts where the last one ended.
        after, last = chunk.format(after=">="), -(2**63)
        while True:
            try:
                lines, end, count = (await self.fetch(after, (last, size)))[0]
            except sqlite3.DataError:  # longer than SQLite's longest string: fewer rows a chunk
                if size == 1:
                    raise
                size = max(1, size // 2)
                continue
            if not count:
                return
            yield lines, count
            after, last = chunk.format(after=">"), end

    async def functions(self, named: Mapping[str, Callable[[Any], Any]]) -> None:
        """One-argument SQL functions written in Python, for this connection's later statements."""
        for name, function in named.items():
            await self.driver.create_function(name, 1, function, deterministic=True)

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

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """`rows` may be an iterator: its rows are then made as the driver binds them, on its thread, and
        an error it raises comes out of here as itself."""
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

    # --- loading a copy: one write transaction (`replace` deletes and reloads inside it) ---

    async def load(self, job: CopyJob) -> Loaded:
        async with self.write_transaction():
            existing = await self.table_columns(job.table)
            plan = await job.plan_for(self, existing)
            if existing is None:
                await self.execute(self.create_table_sql(job.table, plan, job.key))
            elif job.mode == "replace":
                await self.execute(f"DELETE FROM {self.qualified(job.table)}")
            await self.insert_rows(job, plan, job.table)
        return Loaded(plan, created=existing is None)

    async def insert_rows(self, job: CopyJob, plan: Plan, into: TableName) -> None:
        if plan.text_rows:  # from PostgreSQL, as COPY text
            await job.text_into_sqlite(self, plan, into)
            return
        await super().insert_rows(job, plan, into)

    def insert_sql(self, into: TableName, names: Sequence[str], key: Sequence[str], rows: int = 1) -> str:
        """One row's INSERT (upsert on `key`), or one of `rows` rows whose parameters come row after row."""
        marks = ", ".join([f"({', '.join(['?'] * len(names))})"] * rows)
        statement = f"INSERT INTO {self.qualified(into)} ({self.column_list(names)}) VALUES {marks}"
        if not key:
            return statement
        others = [n for n in names if n not in key]
        updates = ", ".join(f"{self.quote(n)} = excluded.{self.quote(n)}" for n in others)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return f"{statement} ON CONFLICT ({self.column_list(key)}) {action}"


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
