"""The face every database shows the SQL steps: a borrowed connection seen through its dialect, with
the same methods whatever the database (one subclass per dialect beside this module)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import msgspec

from nomaflow.engine.resources.connectors import Dialect, Link
from nomaflow.engine.resources.queries import Template
from nomaflow.engine.steps.sql.copy_plan import Plan
from nomaflow.engine.steps.sql.names import Column, ResultColumn, TableName

Batches = AsyncIterator[Sequence[Sequence[Any]]]


class CopyJob(Protocol):
    """What a database loading a copy's rows asks of the copy in progress (the pipeline implements it)."""

    step: str
    table: TableName  # the target table
    mode: Literal["replace", "append", "upsert"]
    key: Sequence[str]  # upsert's key columns (empty in the other modes)

    async def plan_for(self, target: Database, existing: list[Column] | None) -> Plan:
        """The plan into the table's `existing` columns (None: the table is missing, and is created from
        the plan if the step may create it; otherwise this raises)."""
        ...

    def batches(self, plan: Plan) -> AbstractAsyncContextManager[Batches]:
        """The source's rows, converted by the plan, read ahead of the writer."""
        ...

    def counted(self, rows: int) -> None:
        """`rows` more rows are written (progress)."""
        ...

    def log(self, message: str) -> None:
        """A line in the step's log."""
        ...

    async def relay(self, target: Database, plan: Plan, into: TableName) -> None:
        """PostgreSQL to PostgreSQL: the source's COPY data into `into`, spliced where the plan says."""
        ...

    async def relay_text(self, target: Database, plan: Plan, into: TableName) -> None:
        """Between PostgreSQL and MariaDB/MySQL: the source's rows as its server's text into `into`
        (copy_text). Raises mysql_infile.Refused, having read nothing, if MariaDB refuses LOCAL INFILE."""
        ...

    async def text_into_sqlite(self, target: Database, plan: Plan, into: TableName) -> None:
        """PostgreSQL into SQLite: the source's rows as COPY text, bound as str where that stores what
        the Python path stores (copy_sqlite_text), into `into` inside the target's transaction."""
        ...

    async def drop_quietly(self, target: Database, table: TableName) -> None:
        """Drop a table this copy created, on a fresh connection if `target`'s is broken."""
        ...


@dataclass(frozen=True)
class Loaded:
    """What a load did: the plan it followed, and whether it created the target table."""

    plan: Plan
    created: bool


class Database(ABC):
    """A borrowed connection seen through its dialect."""

    dialect: Dialect

    def __init__(self, link: Link) -> None:
        self.link = link
        self.driver: Any = link.driver

    @staticmethod
    def of(link: Link) -> Database:
        """The connection seen through its dialect's class (the package imports every one of them)."""
        for kind in Database.__subclasses__():
            if kind.dialect == link.dialect:
                return kind(link)
        raise ValueError(f"no SQL dialect class for {link.dialect!r}")

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

    # --- loading a copy ---

    @abstractmethod
    async def load(self, job: CopyJob) -> Loaded:
        """Put the copy's rows into its table, all or nothing, the way this database does that best; a
        reader sees the old rows or the new ones, never part of them."""

    def create_table_sql(self, table: TableName, plan: Plan, key: Sequence[str]) -> str:
        columns = [f"{self.quote(n)} {t.declared}" for n, t in zip(plan.names, plan.types, strict=True)]
        if key:
            columns.append(f"PRIMARY KEY ({self.column_list(key)})")
        return f"CREATE TABLE {self.qualified(table)} (\n  " + ",\n  ".join(columns) + "\n)"

    @abstractmethod
    def insert_sql(self, into: TableName, names: Sequence[str], key: Sequence[str]) -> str:
        """One row's INSERT, or its upsert on `key` when `key` is not empty."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert_rows(self, job: CopyJob, plan: Plan, into: TableName) -> None:
        """Batched multi-row INSERTs (upserts in `upsert` mode) of the plan's rows."""
        async with job.batches(plan) as batches:
            await self.insert_batches(job, self.insert_sql(into, plan.names, job.key), batches)

    async def insert_batches(self, job: CopyJob, statement: str, batches: Batches) -> None:
        async for batch in batches:
            if batch and not isinstance(batch[0], tuple | list):
                batch = [tuple(row) for row in batch]  # asyncpg Records: drivers want plain sequences
            await self.executemany(statement, batch)
            job.counted(len(batch))
