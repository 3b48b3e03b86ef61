"""The `sql_copy` step: stream the rows of a named query (or a table) from one connector into a table on
another, converting types through the map in `nomaflow.engine.steps.sql.types`.

Rows come from a server-side cursor `batch_size` at a time while the previous batch is being written, so
memory does not grow with the row count. Every mode is all-or-nothing:

- PostgreSQL target: one transaction. `replace` loads a staging table and renames it into place just
  before the commit; readers keep seeing the old rows until then, and a failure rolls everything back,
  staging table included. Rows go in through binary COPY; between two PostgreSQL databases the COPY data
  streams from one server to the other: with the same column types it is never decoded, and a column
  converted in Python is decoded alone, the other fields passing through as bytes
  (engine.steps.sql_copy_splice).
- MariaDB/MySQL target: DDL commits on its own there, so `replace` loads a staging table in a transaction
  and swaps it in with one atomic `RENAME TABLE`; a failure drops the staging table.
- SQLite target: one write transaction (`replace` deletes and reloads inside it).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.resources.connectors import Connector, Connectors, connectors_for
from nomaflow.engine.resources.queries import QueryBook, queries_for
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.sql.copy_codecs import decoder, encoder
from nomaflow.engine.steps.sql.copy_splice import CopyRewriter, Recode, RowRejected
from nomaflow.engine.steps.sql.dialects import (
    BadName,
    Column,
    Database,
    MySql,
    Postgres,
    Sqlite,
    TableName,
    check_name,
    side_name,
)
from nomaflow.engine.steps.sql.errors import failure, rejected_value
from nomaflow.engine.steps.sql.query import (
    check_query,
    connector_secrets,
    is_templated,
    resolve_connector,
    resolve_query,
)
from nomaflow.engine.steps.sql.types import (
    INTEGERS,
    TEXTS,
    Convert,
    Kind,
    SqlType,
    canonical_type,
    check_override,
    compatible,
    converter,
    parse_override,
    reader_normalizer,
    render,
    to_kind,
    writer_adapter,
)
from nomaflow.engine.steps.targets import named_connector_problems

# In pass-through mode rows are never decoded, so progress is counted in bytes.
PASSTHROUGH_PROGRESS_BYTES = 64 * 1024 * 1024
_QUEUE = 4  # batches (or COPY chunks) read ahead of the writer


class SqlCopyOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    source: str
    target: str
    table: str  # the target table: "name" or "schema.name"
    query: str | None = None  # a named query on the source ("<name>" or "<name>:read")
    source_table: str | None = None  # or a whole table (or view) of the source
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    mode: Literal["replace", "append", "upsert"] = "replace"
    key: list[str] = msgspec.field(default_factory=list)  # upsert: the columns that identify a row
    create: bool = False  # create the target table from the source's columns when it does not exist
    columns: dict[str, str] = msgspec.field(default_factory=dict)  # types for created columns
    batch_size: int = 10_000
    progress_every: int = 100_000  # rows between two progress lines


class CopyFailed(PermanentStepFailure):
    pass


_SAME: tuple[tuple[Kind, ...], ...] = (INTEGERS, TEXTS)


def _same_values(source: Kind, target: Kind) -> bool:
    """True when a canonical value of `source` is already one of `target`."""
    return source is target or any(source in group and target in group for group in _SAME)


@dataclass
class Plan:
    """How each source column lands in the target."""

    source: list[Column]
    names: list[str]  # target column names, in source order
    types: list[SqlType]  # target column types, in source order
    converters: list[tuple[int, Convert, str]] = field(default_factory=list)  # (index, fn, "from -> to")
    casts: dict[int, str] = field(default_factory=dict)  # PostgreSQL to PostgreSQL: SQL casts on the source
    passthrough: bool = False
    # PostgreSQL to PostgreSQL, spliced: the columns decoded, converted and re-encoded in Python, while the
    # COPY data of the others passes through (empty otherwise).
    recoded: list[int] = field(default_factory=list)

    def select_list(self, quote: Callable[[str], str]) -> str:
        """The source columns as the pass-through COPY reads them, cast where the plan says."""
        return ", ".join(
            self.casts[i].format(column=quote(c.name)) if i in self.casts else quote(c.name)
            for i, c in enumerate(self.source)
        )

    def rewriter(self) -> CopyRewriter:
        """The rewriter of the source's COPY data into the target's, for a spliced copy."""
        converts = {index: (convert, described) for index, convert, described in self.converters}
        columns: list[Recode | None] = [None] * len(self.source)
        for index in self.recoded:
            have, wanted = self.source[index].type, self.types[index]
            convert, described = converts.get(index, (None, f"{have} -> {wanted}"))
            decode, encode = decoder(have), encoder(wanted)
            assert decode is not None and encode is not None, "plan() splices only columns it can convert"
            columns[index] = Recode(self.source[index].name, described, decode, convert, encode)
        return CopyRewriter(columns)

    def apply(self, step: str, batch: Sequence[Sequence[Any]], offset: int) -> Sequence[Sequence[Any]]:
        if not self.converters:
            return batch
        converters = [(index, convert) for index, convert, _ in self.converters]
        out: list[list[Any]] = []
        try:
            for row in batch:
                values = list(row)
                for index, convert in converters:
                    value = values[index]
                    if value is not None:
                        values[index] = convert(value)
                out.append(values)
        except (ValueError, TypeError, ArithmeticError):
            self._explain(step, batch[len(out)], offset + len(out) + 1)
            raise
        return out

    def _explain(self, step: str, row: Sequence[Any], number: int) -> None:
        """Raise CopyFailed naming the row, column and value that failed (found again, slowly)."""
        for index, convert, described in self.converters:
            value = row[index]
            if value is None:
                continue
            try:
                convert(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                reason = rejected_value(self.source[index].name, value, described, exc)
                raise CopyFailed(f"step '{step}': row {number}, {reason}") from None


# Conversions PostgreSQL does exactly as the Python ones would and that cannot fail on a value the
# target could take: for these the source query casts and the COPY data still passes straight through.
_WIDER_INTEGER = {Kind.SMALLINT: (Kind.INTEGER, Kind.BIGINT), Kind.INTEGER: (Kind.BIGINT,)}


def server_cast(have: SqlType, wanted: SqlType) -> str | None:
    """A SQL expression template (`{column}`) converting `have` to `wanted` on a PostgreSQL source."""
    source, target = have.kind, wanted.kind
    if source is Kind.OTHER or target is Kind.OTHER:
        return None
    if (source, target) in ((Kind.TIMESTAMP, Kind.TIMESTAMPTZ), (Kind.TIMESTAMPTZ, Kind.TIMESTAMP)):
        return "({column} AT TIME ZONE 'UTC')"  # naive values are UTC, as in every other path
    castable = (
        target in _WIDER_INTEGER.get(source, ())
        or (source in INTEGERS and target in (Kind.NUMERIC, Kind.REAL, Kind.DOUBLE))
        or (source is Kind.NUMERIC and target in (Kind.NUMERIC, Kind.REAL, Kind.DOUBLE))
        or (source in (*INTEGERS, Kind.NUMERIC, Kind.UUID, *TEXTS) and target in TEXTS)
        or (source is Kind.JSON and target is Kind.JSON)
        or (source is Kind.BOOLEAN and target in INTEGERS)
    )
    return f"{{column}}::{wanted.declared}" if castable else None


def _same_binary(have: SqlType, wanted: SqlType) -> bool:
    """Whether PostgreSQL's binary COPY form of `have` is one `wanted` reads: the same type, whatever its
    modifiers (the target still applies its own, as for any COPY)."""
    if have.kind is Kind.OTHER or have.kind is Kind.JSON:  # json and jsonb differ on the wire
        return _base_type(have) == _base_type(wanted)
    return have.kind is wanted.kind


def _spliceable(have: SqlType, wanted: SqlType) -> bool:
    """Whether a column can be converted inside a spliced copy: its binary COPY forms are known."""
    return decoder(have) is not None and encoder(wanted) is not None


def _base_type(t: SqlType) -> str:
    return re.sub(r"\(.*?\)", "", t.declared).strip().lower()


def _compose(*functions: Convert | None) -> Convert | None:
    chain = [f for f in functions if f is not None]
    if not chain:
        return None
    if len(chain) == 1:
        return chain[0]

    def composed(value: Any) -> Any:
        for function in chain:
            value = function(value)
        return value

    return composed


class Copy:
    """One attempt of one sql_copy step."""

    def __init__(
        self,
        ctx: StepContext,
        options: SqlCopyOptions,
        connectors: Connectors,
        source: Connector,
        target: Connector,
        table: TableName,
    ) -> None:
        self.ctx = ctx
        self.step = ctx.step
        self.options = options
        self.connectors = connectors
        self.source_connector = source
        self.target_connector = target
        self.table = table
        self.rows = 0
        self.created = False
        self.started = anyio.current_time()
        self._next_progress = options.progress_every
        self.plan_used: Plan | None = None
        self.source_rows: AsyncIterator[Sequence[Sequence[Any]]] | None = None  # raw batches

    target_db: Database  # set once the target connection is open

    # --- the plan ---

    def plan(self, source: list[Column], existing: list[Column] | None, target: Database) -> Plan:
        if existing is None:
            types = [self._created_type(c, target) for c in source]
            names = [c.name for c in source]
        else:
            names, types = [], []
            by_name = {c.name: c for c in existing}
            by_folded: dict[str, list[Column]] = {}
            for c in existing:
                by_folded.setdefault(c.name.lower(), []).append(c)
            for column in source:
                match = by_name.get(column.name)
                if match is None and len(by_folded.get(column.name.lower(), [])) == 1:
                    match = by_folded[column.name.lower()][0]
                if match is None:
                    listed = ", ".join(c.name for c in existing)
                    raise CopyFailed(
                        f"step '{self.step}': source column '{column.name}' has no column in table "
                        f"'{self.table}'{did_you_mean(column.name, by_name)} (its columns: {listed})"
                    )
                if match.generated:
                    raise CopyFailed(
                        f"step '{self.step}': column '{match.name}' of table '{self.table}' is generated by "
                        "the database and cannot be written; leave it out of the source query"
                    )
                names.append(match.name)
                types.append(match.type)
        plan = Plan(source=source, names=names, types=types)
        src_dialect, tgt_dialect = self.source_connector.dialect, self.target_connector.dialect
        both_postgres = src_dialect == tgt_dialect == "postgresql"
        differs: set[int] = set()  # columns whose binary COPY form is not one the target reads
        for index, (column, wanted) in enumerate(zip(source, types, strict=True)):
            have = column.type
            same_declared = have.declared.lower() == wanted.declared.lower()
            if both_postgres and not same_declared and (cast := server_cast(have, wanted)) is not None:
                plan.casts[index] = cast  # the source server converts; the COPY data still passes through
                continue
            if have.kind is Kind.OTHER or wanted.kind is Kind.OTHER:
                if same_declared and src_dialect == tgt_dialect:
                    continue  # a type the map does not know, copied only as itself
                if not (src_dialect == "sqlite" and have.declared == ""):
                    raise CopyFailed(
                        f"step '{self.step}': column '{column.name}': cannot copy {src_dialect} type "
                        f"'{have.declared or '?'}' into {tgt_dialect} type '{wanted.declared}'"
                    )
            elif not compatible(have.kind, wanted.kind):
                raise CopyFailed(
                    f"step '{self.step}': column '{column.name}': cannot copy {have.declared} ({have.kind}) "
                    f"into {wanted.declared} ({wanted.kind}) of table '{self.table}'"
                )
            if _same_values(have.kind, wanted.kind):
                kind_change = None
            elif src_dialect == "sqlite" or have.kind is Kind.OTHER:
                kind_change = to_kind(wanted.kind)  # SQLite values may be of any storage class
            else:
                kind_change = converter(have.kind, wanted.kind)
            convert = _compose(
                reader_normalizer(have.kind, src_dialect) if have.kind is not Kind.OTHER else None,
                kind_change,
                writer_adapter(wanted.kind, tgt_dialect),
            )
            if not same_declared and not _same_binary(have, wanted):
                differs.add(index)
            if convert is not None:
                plan.converters.append((index, convert, f"{have.declared or 'untyped'} -> {wanted.declared}"))
        recoded = sorted(differs | {index for index, _, _ in plan.converters})
        plan.passthrough = both_postgres and not recoded
        if both_postgres and recoded and all(_spliceable(source[i].type, types[i]) for i in recoded):
            plan.recoded = recoded  # the cast columns stay with the source server
        elif not plan.passthrough and plan.casts:
            # Some column needs Python after all: convert the cast ones in Python too.
            for index in sorted(plan.casts):
                have, wanted = source[index].type, types[index]
                plan.converters.append((index, converter(have.kind, wanted.kind), f"{have} -> {wanted}"))
            plan.converters.sort(key=lambda item: item[0])
            plan.casts = {}
        return plan

    def _created_type(self, column: Column, target: Database) -> SqlType:
        override = self.options.columns.get(column.name)
        if override is not None:
            try:
                return parse_override(override, target.dialect)
            except ValueError as exc:
                raise CopyFailed(f"step '{self.step}': columns.{column.name}: {exc}") from None
        have = column.type
        if have.kind is Kind.OTHER:
            if self.source_connector.dialect == target.dialect and have.declared:
                return have
            raise CopyFailed(
                f"step '{self.step}': column '{column.name}': the type map has no {target.dialect} type for "
                f"{self.source_connector.dialect} type '{have.declared or '(none)'}'; "
                f'name one in columns = {{ {column.name} = "..." }}'
            )
        kind = have
        if target.dialect == "mysql" and have.kind is Kind.TEXT and column.name in self.options.key:
            kind = SqlType(Kind.VARCHAR, "varchar(255)", 255)  # MariaDB cannot index unbounded text
        try:
            return SqlType(kind.kind, render(kind, target.dialect), kind.precision, kind.scale)
        except ValueError as exc:
            raise CopyFailed(f"step '{self.step}': column '{column.name}': {exc}") from None

    def create_sql(self, target: Database, table: TableName, plan: Plan) -> str:
        columns = [f"{target.quote(n)} {t.declared}" for n, t in zip(plan.names, plan.types, strict=True)]
        if self.options.mode == "upsert":
            columns.append(f"PRIMARY KEY ({target.column_list(self.options.key)})")
        return f"CREATE TABLE {target.qualified(table)} (\n  " + ",\n  ".join(columns) + "\n)"

    async def missing_table(self, target: Database) -> CopyFailed:
        try:
            names = await target.table_names(self.table.schema)
        except Exception:
            names = []
        hint = did_you_mean(self.table.name, names)
        if not hint:
            folded = [n for n in names if n.lower() == self.table.name.lower()]
            hint = f' (did you mean "{folded[0]}"?)' if folded else ""
        return CopyFailed(
            f"step '{self.step}': table '{self.table}' does not exist on connector "
            f"'{self.target_connector.name}'{hint}; set create = true to create it from the source's columns"
        )

    def check_key(self, plan: Plan) -> None:
        for key in self.options.key:
            if key not in plan.names:
                raise CopyFailed(
                    f"step '{self.step}': key column '{key}' is not among the copied columns "
                    f"({', '.join(plan.names)}){did_you_mean(key, plan.names)}"
                )

    # --- progress ---

    def counted(self, rows: int) -> None:
        self.rows += rows
        if self.rows >= self._next_progress:
            elapsed = max(anyio.current_time() - self.started, 1e-9)
            self.ctx.log.info(
                f"{self.rows:,} rows copied ({self.rows / elapsed:,.0f} rows/s)",
                rows=self.rows,
                rows_per_second=round(self.rows / elapsed),
            )
            every = self.options.progress_every
            self._next_progress = (self.rows // every + 1) * every

    # --- moving rows ---

    @asynccontextmanager
    async def reading(self, plan: Plan) -> AsyncIterator[MemoryObjectReceiveStream[Sequence[Sequence[Any]]]]:
        """The source's batches, converted by a task that reads ahead of the writer (memory holds at
        most `_QUEUE` batches). Leaving the block early stops the reader."""
        send, receive = anyio.create_memory_object_stream[Sequence[Sequence[Any]]](_QUEUE)

        async def produce() -> None:
            offset = 0
            async with send:
                assert self.source_rows is not None
                async for batch in self.source_rows:
                    await send.send(plan.apply(self.step, batch, offset))
                    offset += len(batch)

        with single_errors():
            async with anyio.create_task_group() as group, receive:
                group.start_soon(produce)
                yield receive

    async def copy_into_postgres(
        self, source: Database, sql: str, args: Sequence[Any], plan: Plan, into: TableName
    ) -> None:
        target = self.target_db
        assert isinstance(target, Postgres)
        if plan.passthrough or plan.recoded:
            await self._stream(source, target, sql, args, plan, into)
            return

        # One COPY per batch, from a plain list: asyncpg encodes it in one tight loop, where an async
        # iterator would cost a coroutine switch per row. Still one transaction, so still all or nothing.
        async with self.reading(plan) as batches:
            async for batch in batches:
                await target.driver.copy_records_to_table(
                    into.name, schema_name=into.schema, columns=plan.names, records=batch
                )
                self.counted(len(batch))

    async def _stream(
        self, source: Database, target: Postgres, sql: str, args: Sequence[Any], plan: Plan, into: TableName
    ) -> None:
        """The source's COPY TO STDOUT (binary) into the target's COPY FROM STDIN: as it comes in
        pass-through, through the plan's rewriter when it splices."""
        send, receive = anyio.create_memory_object_stream[bytes](_QUEUE * 4)
        streamed = 0
        next_log = PASSTHROUGH_PROGRESS_BYTES
        rewriter = plan.rewriter() if plan.recoded else None
        if rewriter is not None:
            names = ", ".join(plan.source[i].name for i in plan.recoded)
            self.ctx.log.info(f"converting {names} in Python; the other columns' COPY data passes through")

        if plan.casts:
            sql = f"SELECT {plan.select_list(source.quote)} FROM (\n{sql}\n) AS nf_source"

        async def rewrite(chunk: bytes) -> None:
            assert rewriter is not None
            before = rewriter.rows
            data = rewriter.feed(chunk)
            self.counted(rewriter.rows - before)
            if data:  # nothing when the chunk ended before its first complete row
                await send.send(data)

        async def produce() -> None:
            async with send:
                output = send.send if rewriter is None else rewrite
                try:
                    await source.driver.copy_from_query(sql, *args, output=output, format="binary")
                except BaseException:
                    # When the output fails (a bad row, or the target failing first), asyncpg cancels the
                    # source's COPY and holds the connection until the server acknowledges it; if the
                    # server had already sent everything, nothing ever will, and the rollback would wait
                    # forever. The connection is discarded after an error anyway: close it now.
                    source.driver.terminate()
                    raise
                if rewriter is not None:
                    rewriter.finish()

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal streamed, next_log
            async with receive:
                async for chunk in receive:
                    yield chunk
                    streamed += len(chunk)
                    if rewriter is None and streamed >= next_log:  # spliced copies count rows
                        next_log += PASSTHROUGH_PROGRESS_BYTES
                        elapsed = max(anyio.current_time() - self.started, 1e-9)
                        self.ctx.log.info(
                            f"{streamed / 2**20:,.0f} MiB of COPY data passed through "
                            f"({streamed / 2**20 / elapsed:,.1f} MiB/s)",
                            bytes=streamed,
                        )

        try:
            with single_errors():
                async with anyio.create_task_group() as group:
                    group.start_soon(produce)
                    status = await target.driver.copy_to_table(
                        into.name,
                        schema_name=into.schema,
                        columns=plan.names,
                        source=chunks(),
                        format="binary",
                    )
        except RowRejected as exc:
            raise CopyFailed(f"step '{self.step}': {exc}") from None
        self.rows = int(status.rsplit(" ", 1)[-1])

    async def insert_batches(self, plan: Plan, into: TableName) -> None:
        """MariaDB/MySQL and SQLite: batched multi-row INSERTs (upserts in `upsert` mode)."""
        target = self.target_db
        assert isinstance(target, MySql | Sqlite)
        columns = target.column_list(plan.names)
        marks = ", ".join(["%s" if target.dialect == "mysql" else "?"] * len(plan.names))
        statement = f"INSERT INTO {target.qualified(into)} ({columns}) VALUES ({marks})"
        if self.options.mode == "upsert":
            others = [n for n in plan.names if n not in self.options.key]
            if target.dialect == "mysql":
                # With only key columns there is nothing to update: a no-op assignment keeps the syntax.
                first = target.quote(plan.names[0])
                updates = ", ".join(f"{target.quote(n)} = VALUES({target.quote(n)})" for n in others)
                statement += f" ON DUPLICATE KEY UPDATE {updates or f'{first} = {first}'}"
            else:
                updates = ", ".join(f"{target.quote(n)} = excluded.{target.quote(n)}" for n in others)
                conflict = target.column_list(self.options.key)
                statement += f" ON CONFLICT ({conflict}) " + (
                    f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
                )
        async with self.reading(plan) as batches:
            async for batch in batches:
                if batch and not isinstance(batch[0], tuple | list):
                    batch = [tuple(row) for row in batch]  # asyncpg Records: drivers want plain sequences
                await target.executemany(statement, batch)
                self.counted(len(batch))


class SqlCopy(StepType[SqlCopyOptions]):
    name = "sql_copy"
    options = SqlCopyOptions

    def __init__(self, env: StepEnvironment) -> None:
        super().__init__(env)
        self.connectors = connectors_for(env)
        self.queries: QueryBook = queries_for(env)

    # --- load time ---

    def check(self, options: SqlCopyOptions) -> list[tuple[str, str]]:
        problems = named_connector_problems([("source", options.source), ("target", options.target)])
        if (options.query is None) == (options.source_table is None):
            problems.append(
                ("query", "give either query (a named query) or source_table (a whole table), not both")
            )
        if options.query is not None:
            for where, message in check_query(
                self.connectors,
                self.queries,
                options.source,
                options.query,
                options.params,
                allowed_modes=(None, "read"),
                mode_hint=(
                    f"'{options.query}': sql_copy reads its source: write the query name, or '<name>:read'"
                ),
            ):
                problems.append(("source" if where == "connector" else where, message))
        elif not is_templated(options.source) and (problem := self.connectors.problem(options.source)):
            problems.append(("source", problem))
        if options.source_table is not None and options.params:
            problems.append(("params", "params are for a named query; source_table takes none"))
        target_dialect = None
        if not is_templated(options.target):
            try:
                target_dialect = self.connectors.get(options.target).dialect
            except Exception as exc:
                problems.append(("target", str(exc)))
        for field_name, value in (("table", options.table), ("source_table", options.source_table)):
            if value is not None and not is_templated(value):
                try:
                    TableName.parse(value, field_name)
                except BadName as exc:
                    problems.append((field_name, str(exc)))
        if options.mode == "upsert" and not options.key:
            problems.append(("key", 'mode = "upsert" needs key = [...], the columns that identify a row'))
        if options.key and options.mode != "upsert":
            problems.append(("key", f'key is only used by mode = "upsert", not "{options.mode}"'))
        for key in options.key:
            try:
                check_name(key, "key column")
            except BadName as exc:
                problems.append(("key", str(exc)))
        if options.columns and not options.create:
            problems.append(
                ("columns", "column types apply when the step creates the table: set create = true")
            )
        for column, declared in options.columns.items():
            try:
                check_name(column, "column")
                check_override(declared)
                if target_dialect is not None:
                    parse_override(declared, target_dialect)
            except (BadName, ValueError) as exc:
                problems.append((f"columns.{column}", str(exc)))
        if not 1 <= options.batch_size <= 1_000_000:
            problems.append(("batch_size", f"expected 1 to 1000000, got {options.batch_size}"))
        if options.progress_every < 1:
            problems.append(("progress_every", f"expected a number >= 1, got {options.progress_every}"))
        return problems

    # --- run time ---

    async def run(self, ctx: StepContext, options: SqlCopyOptions) -> Any:
        problems = self.check(options)  # templated fields are only known now
        if problems:
            where, message = problems[0]
            raise PermanentStepFailure(f"step '{ctx.step}': {where}: {message}")
        source = resolve_connector(ctx.step, self.connectors, options.source)
        target = resolve_connector(ctx.step, self.connectors, options.target)
        table = TableName.parse(options.table)
        copy = Copy(ctx, options, self.connectors, source, target, table)
        doing = "reading the source"
        try:
            async with self.connectors.connect(source.name) as source_link:
                source_db = Database.of(source_link)
                # Everything the source does shares one snapshot. (It also matters to asyncpg: a statement
                # prepared before `BEGIN ISOLATION LEVEL ...` leaves an implicit transaction open.)
                async with source_db.read_transaction(readonly=False):
                    if options.query is not None:
                        _, query = resolve_query(ctx.step, self.queries, options.query)
                        sql, args = await source_db.bind(query.template(source.dialect), options.params)
                        source_table = None
                    else:
                        assert options.source_table is not None
                        source_table = TableName.parse(options.source_table, "source_table")
                        sql, args = f"SELECT * FROM {source_db.qualified(source_table)}", []
                    if ctx.dry_run:
                        count = await source_db.count(sql, args)
                        ctx.log.info(
                            f"dry run: the source has {count:,} rows; nothing was written", rows=count
                        )
                        return {
                            "dry_run": True,
                            "source_rows": count,
                            "mode": options.mode,
                            "table": str(table),
                        }
                    columns = await source_db.describe(sql, args, source_table)
                    if source_table is not None and not columns:
                        raise CopyFailed(
                            f"step '{ctx.step}': source_table '{source_table}' does not exist "
                            f"on connector '{source.name}'"
                        )
                    self._check_source_names(ctx.step, columns)
                    doing = "copying"
                    async with self.connectors.connect(target.name) as target_link:
                        copy.target_db = Database.of(target_link)
                        batches = source_db.batches(sql, args, options.batch_size)
                        async with aclosing(batches):
                            copy.source_rows = batches
                            if any(c.type.kind is Kind.OTHER and not c.type.declared for c in columns):
                                # SQLite expressions carry no declared type: the first values tell.
                                first = await anext(batches, None)
                                columns = sniff(columns, first or [])
                                copy.source_rows = _chain(first, batches)
                            loaders: dict[str, Callable[..., Any]] = {
                                "postgresql": self._into_postgres,
                                "mysql": self._into_mysql,
                                "sqlite": self._into_sqlite,
                            }
                            await loaders[target.dialect](copy, source_db, sql, args, columns)
        except StepFailure:
            raise
        except Exception as exc:
            where = f"{doing} (from connector '{source.name}' to '{target.name}')"
            raise failure(exc, step=ctx.step, doing=where, connectors=(source, target)) from exc
        elapsed = max(anyio.current_time() - copy.started, 1e-9)
        ctx.log.info(
            f"copied {copy.rows:,} rows into {table} in {elapsed:.2f}s ({copy.rows / elapsed:,.0f} rows/s)",
            rows=copy.rows,
        )
        return {
            "rows": copy.rows,
            "seconds": round(elapsed, 3),
            "rows_per_second": round(copy.rows / elapsed),
            "mode": options.mode,
            "table": str(table),
            "created": copy.created,
            "passthrough": copy.plan_used is not None and copy.plan_used.passthrough,
        }

    @staticmethod
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

    # --- per target ---

    async def _into_postgres(
        self, copy: Copy, source: Database, sql: str, args: Sequence[Any], columns: list[Column]
    ) -> None:
        target = copy.target_db
        assert isinstance(target, Postgres)
        options = copy.options
        table = copy.table
        async with target.write_transaction():
            existing = await target.table_columns(table)
            if existing is None and not options.create:
                raise await copy.missing_table(target)
            plan = copy.plan(columns, existing, target)
            copy.check_key(plan)
            if existing is None:
                await target.execute(copy.create_sql(target, table, plan))
                copy.created = True
            if options.mode == "replace" and existing is not None:
                stage = table.with_name(side_name(table.name, "stage"))
                await target.execute(
                    f"CREATE TABLE {target.qualified(stage)} (LIKE {target.qualified(table)} INCLUDING ALL)"
                )
                await copy.copy_into_postgres(source, sql, args, plan, stage)
                await swap_postgres(target, table, stage)
            elif options.mode == "upsert":
                stage = TableName(None, side_name(table.name, "upsert"))
                await target.execute(
                    f"CREATE TEMP TABLE {target.quote(stage.name)} (LIKE {target.qualified(table)} "
                    "INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                await copy.copy_into_postgres(source, sql, args, plan, TableName("pg_temp", stage.name))
                names = target.column_list(plan.names)
                others = [n for n in plan.names if n not in options.key]
                action = (
                    "DO UPDATE SET "
                    + ", ".join(f"{target.quote(n)} = EXCLUDED.{target.quote(n)}" for n in others)
                    if others
                    else "DO NOTHING"
                )
                await target.execute(
                    f"INSERT INTO {target.qualified(table)} ({names}) SELECT {names} "
                    f"FROM pg_temp.{target.quote(stage.name)} "
                    f"ON CONFLICT ({target.column_list(options.key)}) {action}"
                )
            else:
                await copy.copy_into_postgres(source, sql, args, plan, table)
        copy.plan_used = plan

    async def _into_mysql(
        self, copy: Copy, source: Database, sql: str, args: Sequence[Any], columns: list[Column]
    ) -> None:
        target = copy.target_db
        assert isinstance(target, MySql)
        options, table = copy.options, copy.table
        lock = f"nomaflow.sql_copy:{table}"[:64]
        # Two copies into one table at once would swap each other's staging tables away: serialize them.
        got = (await target.fetch("SELECT GET_LOCK(%s, %s)", (lock, 60)))[0][0]
        if got != 1:
            raise StepFailure(f"step '{copy.step}': another copy into '{table}' held its lock for 60 s")
        try:
            existing = await target.table_columns(table)
            if existing is None and not options.create:
                raise await copy.missing_table(target)
            plan = copy.plan(columns, existing, target)
            copy.check_key(plan)
            copy.plan_used = plan
            if options.mode == "replace":
                stage = table.with_name(side_name(table.name, "stage"))
                if existing is None:
                    await target.execute(copy.create_sql(target, stage, plan))
                else:
                    await target.execute(
                        f"CREATE TABLE {target.qualified(stage)} LIKE {target.qualified(table)}"
                    )
                try:
                    async with target.write_transaction():
                        await copy.insert_batches(plan, stage)
                    if existing is None:
                        await target.execute(
                            f"RENAME TABLE {target.qualified(stage)} TO {target.qualified(table)}"
                        )
                        copy.created = True
                    else:
                        old = table.with_name(side_name(table.name, "old"))
                        await target.execute(
                            f"RENAME TABLE {target.qualified(table)} TO {target.qualified(old)}, "
                            f"{target.qualified(stage)} TO {target.qualified(table)}"
                        )
                        await target.execute(f"DROP TABLE {target.qualified(old)}")
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await self._drop_quietly(copy, stage)
                    raise
                return
            if existing is None:
                await target.execute(copy.create_sql(target, table, plan))
                copy.created = True
            try:
                async with target.write_transaction():
                    await copy.insert_batches(plan, table)
            except BaseException:
                if copy.created:
                    with anyio.CancelScope(shield=True):
                        await self._drop_quietly(copy, table)
                    copy.created = False
                raise
        finally:
            # A dead connection released the lock already.
            with anyio.CancelScope(shield=True), suppress(Exception):
                await target.fetch("SELECT RELEASE_LOCK(%s)", (lock,))

    async def _drop_quietly(self, copy: Copy, table: TableName) -> None:
        """Drop a table this attempt created, on a fresh connection if its own one is broken."""
        statement = f"DROP TABLE IF EXISTS {copy.target_db.qualified(table)}"
        try:
            await copy.target_db.execute(statement)
            return
        except Exception:
            pass
        try:
            async with self.connectors.connect(copy.target_connector.name) as link:
                await Database.of(link).execute(statement)
        except Exception as exc:
            copy.ctx.log.error(
                f"could not drop {table} after the failure: {copy.target_connector.scrub(str(exc))}"
            )

    async def _into_sqlite(
        self, copy: Copy, source: Database, sql: str, args: Sequence[Any], columns: list[Column]
    ) -> None:
        target = copy.target_db
        assert isinstance(target, Sqlite)
        options, table = copy.options, copy.table
        async with target.write_transaction():
            existing = await target.table_columns(table)
            if existing is None and not options.create:
                raise await copy.missing_table(target)
            plan = copy.plan(columns, existing, target)
            copy.check_key(plan)
            copy.plan_used = plan
            if existing is None:
                await target.execute(copy.create_sql(target, table, plan))
                copy.created = True
            elif options.mode == "replace":
                await target.execute(f"DELETE FROM {target.qualified(table)}")
            await copy.insert_batches(plan, table)

    def secrets(self, options: SqlCopyOptions) -> list[str]:
        return connector_secrets(self.connectors, [options.source, options.target])

    async def aclose(self) -> None:
        await self.connectors.aclose()


@contextmanager
def single_errors() -> Iterator[None]:
    """Raise the one real error of a task group as itself, not inside an ExceptionGroup: a reader and a
    writer work together, and when one fails the other is only cancelled."""
    try:
        yield
    except BaseExceptionGroup as group:
        errors = _leaves(group)
        real = [e for e in errors if not isinstance(e, anyio.get_cancelled_exc_class())]
        raise (real or errors)[0] from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def sniff(columns: list[Column], first: Sequence[Sequence[Any]]) -> list[Column]:
    """Columns without a declared type get the kind of their first non-NULL value (text if none)."""
    typed = []
    for index, column in enumerate(columns):
        if column.type.kind is Kind.OTHER and not column.type.declared:
            value = next((row[index] for row in first if row[index] is not None), None)
            kind = canonical_type(value) if value is not None else Kind.TEXT
            column = Column(column.name, SqlType(kind, ""), column.nullable)
        typed.append(column)
    return typed


async def _chain(
    first: Sequence[Sequence[Any]] | None, rest: AsyncIterator[Sequence[Sequence[Any]]]
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    if first:
        yield first
    async for batch in rest:
        yield batch


async def swap_postgres(target: Postgres, table: TableName, stage: TableName) -> None:
    """Put `stage` in the place of `table`, inside the caller's transaction.

    The renames take an exclusive lock only for the instant before the commit; a reader waiting on it
    then resolves the name again and reads the new table. Index names, sequences owned by the old
    table's columns and identity counters are carried over, so the result looks like the old table."""
    q = target.qualified
    old_indexes = await _indexes(target, table)
    new_indexes = await _indexes(target, stage)
    owned = await target.fetch(
        "SELECT s.oid::regclass::text, a.attname FROM pg_depend d "
        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "WHERE d.refobjid = $1::regclass AND d.deptype = 'a'",
        [q(table)],
    )
    for sequence, column in owned:
        await target.execute(f"ALTER SEQUENCE {sequence} OWNED BY {q(stage)}.{target.quote(column)}")
    identities = await target.fetch(
        "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attidentity <> ''",
        [q(table)],
    )
    for (column,) in identities:
        await target.execute(
            "SELECT setval(pg_get_serial_sequence($2, $3), s.last_value, s.is_called) "
            "FROM pg_sequences s WHERE (s.schemaname || '.' || s.sequencename)::regclass "
            "= pg_get_serial_sequence($1, $3)::regclass",
            [q(table), q(stage), column],
        )
    old = table.with_name(side_name(table.name, "old"))
    await target.execute(f"ALTER TABLE {q(table)} RENAME TO {target.quote(old.name)}")
    await target.execute(f"ALTER TABLE {q(stage)} RENAME TO {target.quote(table.name)}")
    await target.execute(f"DROP TABLE {q(old)}")
    for shape, name in new_indexes.items():
        wanted = old_indexes.get(shape)
        if wanted is not None and wanted != name:
            schema = f"{target.quote(table.schema)}." if table.schema else ""
            await target.execute(f"ALTER INDEX {schema}{target.quote(name)} RENAME TO {target.quote(wanted)}")


async def _indexes(target: Postgres, table: TableName) -> dict[str, str]:
    """The table's indexes by shape (their definition with the index and table names taken out)."""
    rows = await target.fetch(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY c.relname",
        [target.qualified(table)],
    )
    shapes: dict[str, str] = {}
    for name, definition in rows:
        head, _, tail = definition.partition(" USING ")
        unique = head.startswith("CREATE UNIQUE")
        shape = f"{unique}|{tail}"
        while shape in shapes:  # two indexes of one shape: keep them apart, in name order
            shape += "'"
        shapes[shape] = name
    return shapes
