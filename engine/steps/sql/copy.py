"""The `sql_copy` step: stream the rows of a named query (or a table) from one connector into a table on
another, converting types through the map in `nomaflow.engine.steps.sql.types`.

Rows come from a server-side cursor `batch_size` at a time while the previous batch is being written, so
memory does not grow with the row count. Every mode is all-or-nothing; how each target database makes it
so is its dialect class's `load` (engine/steps/sql/dialects/):

- PostgreSQL target: one transaction. `replace` loads a staging table and renames it into place just
  before the commit; readers keep seeing the old rows until then, and a failure rolls everything back,
  staging table included. Rows go in through binary COPY; between two PostgreSQL databases the COPY data
  streams from one server to the other: with the same column types it is never decoded, and a column
  converted in Python is decoded alone, the other fields passing through as bytes (copy_splice).
- MariaDB/MySQL target: DDL commits on its own there, so `replace` loads a staging table in a transaction
  and swaps it in with one atomic `RENAME TABLE`; a failure drops the staging table. Rows stream into
  `LOAD DATA LOCAL INFILE` (INSERTs where the server refuses it, and for upserts).
- SQLite target: one write transaction (`replace` deletes and reloads inside it).

Between PostgreSQL and MariaDB/MySQL, and from SQLite into PostgreSQL, when no column changes kind, the
rows travel as the databases' own text and are never made Python values (copy_text): COPY TO STDOUT
into LOAD DATA, or MariaDB's or SQLite's escaped lines into COPY FROM STDIN.
From PostgreSQL into SQLite the rows come as COPY text too, split on the SQLite driver's thread and bound
as str wherever that stores what the Python path stores, read and converted column by column elsewhere
(copy_sqlite_text).

The parts: copy_options (options and their checks), copy_plan (the pure column planner), copy_pipeline
(reading ahead, converting, relaying COPY data), copy_text (the text relay's SQL and byte fixes),
copy_sqlite_text (PostgreSQL's COPY text read into SQLite), and the dialects' `load`.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.resources.connectors import Connector, connectors_for
from nomaflow.engine.resources.queries import QueryBook, queries_for
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.sql.copy_options import SqlCopyOptions, option_problems
from nomaflow.engine.steps.sql.copy_pipeline import CopyRun, Source
from nomaflow.engine.steps.sql.copy_plan import CopyFailed, Planner
from nomaflow.engine.steps.sql.dialects import Database
from nomaflow.engine.steps.sql.errors import failure
from nomaflow.engine.steps.sql.names import BadName, Column, TableName, check_name
from nomaflow.engine.steps.sql.query import connector_secrets, resolve_connector, resolve_query

__all__ = ["CopyFailed", "SqlCopy", "SqlCopyOptions"]


class SqlCopy(StepType[SqlCopyOptions]):
    name = "sql_copy"
    options = SqlCopyOptions

    def __init__(self, env: StepEnvironment) -> None:
        super().__init__(env)
        self.connectors = connectors_for(env)
        self.queries: QueryBook = queries_for(env)

    def check(self, options: SqlCopyOptions) -> list[tuple[str, str]]:
        return option_problems(options, self.connectors, self.queries)

    async def run(self, ctx: StepContext, options: SqlCopyOptions) -> Any:
        problems = self.check(options)  # templated fields are only known now
        if problems:
            where, message = problems[0]
            raise PermanentStepFailure(f"step '{ctx.step}': {where}: {message}")
        source = resolve_connector(ctx.step, self.connectors, options.source)
        target = resolve_connector(ctx.step, self.connectors, options.target)
        doing = _Doing()
        try:
            return await self._copy(ctx, options, source, target, doing)
        except StepFailure:
            raise
        except Exception as exc:
            where = f"{doing.what} (from connector '{source.name}' to '{target.name}')"
            raise failure(exc, step=ctx.step, doing=where, connectors=(source, target)) from exc

    async def _copy(
        self, ctx: StepContext, options: SqlCopyOptions, source: Connector, target: Connector, doing: _Doing
    ) -> dict[str, Any]:
        table = TableName.parse(options.table)
        started = anyio.current_time()
        async with self.connectors.connect(source.name) as source_link:
            source_db = Database.of(source_link)
            # Everything the source does shares one snapshot. (It also matters to asyncpg: a statement
            # prepared before `BEGIN ISOLATION LEVEL ...` leaves an implicit transaction open.)
            async with source_db.read_transaction(readonly=False):
                sql, args, source_table = await self._statement(ctx, options, source_db)
                if ctx.dry_run:
                    count = await source_db.count(sql, args)
                    ctx.log.info(f"dry run: the source has {count:,} rows; nothing was written", rows=count)
                    return {"dry_run": True, "source_rows": count, "mode": options.mode, "table": str(table)}
                columns = await source_db.describe(sql, args, source_table)
                if source_table is not None and not columns:
                    raise CopyFailed(
                        f"step '{ctx.step}': source_table '{source_table}' does not exist "
                        f"on connector '{source.name}'"
                    )
                _check_source_names(ctx.step, columns)
                doing.what = "copying"
                planner = Planner(
                    ctx.step, table, source.dialect, target.dialect, options.columns, tuple(options.key)
                )
                async with (
                    self.connectors.connect(target.name) as target_link,
                    aclosing(source_db.batches(sql, args, options.batch_size)) as batches,
                ):
                    run = CopyRun(
                        ctx,
                        planner,
                        await Source(source_db, sql, args, columns, batches, source_table).sniffed(),
                        mode=options.mode,
                        create=options.create,
                        progress_every=options.progress_every,
                        batch_size=options.batch_size,
                        connectors=self.connectors,
                        target=target,
                    )
                    loaded = await run.into(Database.of(target_link))
        elapsed = max(anyio.current_time() - started, 1e-9)
        ctx.log.info(
            f"copied {run.rows:,} rows into {table} in {elapsed:.2f}s ({run.rows / elapsed:,.0f} rows/s)",
            rows=run.rows,
        )
        return {
            "rows": run.rows,
            "seconds": round(elapsed, 3),
            "rows_per_second": round(run.rows / elapsed),
            "mode": options.mode,
            "table": str(table),
            "created": loaded.created,
            "passthrough": loaded.plan.passthrough,
            "text_relay": loaded.plan.relay,
        }

    async def _statement(
        self, ctx: StepContext, options: SqlCopyOptions, source: Database
    ) -> tuple[str, list[Any], TableName | None]:
        """The source's SELECT with its arguments, and the source table when the step names one."""
        if options.source_table is not None:
            source_table = TableName.parse(options.source_table, "source_table")
            return f"SELECT * FROM {source.qualified(source_table)}", [], source_table
        assert options.query is not None  # check() asks for one of the two
        _, query = resolve_query(ctx.step, self.queries, options.query)
        sql, args = await source.bind(query.template(source.dialect), options.params)
        return sql, args, None

    def secrets(self, options: SqlCopyOptions) -> list[str]:
        return connector_secrets(self.connectors, [options.source, options.target])

    async def aclose(self) -> None:
        await self.connectors.aclose()


class _Doing:
    """What the copy is doing, for the message of an unexpected error."""

    what = "reading the source"


def _check_source_names(step: str, columns: list[Column]) -> None:
    seen: set[str] = set()
    for column in columns:
        try:
            check_name(column.name, "source column")
        except BadName as exc:
            raise CopyFailed(f"step '{step}': {exc}; give it an alias in the query (AS name)") from None
        if column.name.lower() in seen:
            raise CopyFailed(f"step '{step}': the source has two columns named '{column.name}'")
        seen.add(column.name.lower())
