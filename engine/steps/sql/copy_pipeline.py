"""The moving part of a copy: the source's rows read ahead of the writer on their own task, converted by
the plan, counted for progress; and between two PostgreSQL databases the COPY data relayed from one server
to the other, spliced where a column is converted in Python.

`CopyRun` is one attempt of a copy, built whole once the source is described and the target is open;
the target database's `load` drives it (`dialects.base.CopyJob`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager, contextmanager
from typing import Any, Literal

import anyio

from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.resources.connectors import Connector, Connectors
from nomaflow.engine.steps.sql import copy_fields, copy_sqlite_text, copy_text
from nomaflow.engine.steps.sql.copy_fields import PythonField
from nomaflow.engine.steps.sql.copy_plan import CopyFailed, Plan, Planner
from nomaflow.engine.steps.sql.copy_splice import RowRejected
from nomaflow.engine.steps.sql.dialects import Database, MySql, Postgres, Sqlite, mysql_infile
from nomaflow.engine.steps.sql.dialects.base import Batches, Loaded
from nomaflow.engine.steps.sql.errors import rejected_value
from nomaflow.engine.steps.sql.names import Column, TableName
from nomaflow.engine.steps.sql.types import Kind, SqlType
from nomaflow.engine.steps.sql.values import canonical_type

# In pass-through mode rows are never decoded, so progress is counted in bytes.
PASSTHROUGH_PROGRESS_BYTES = 64 * 1024 * 1024
QUEUE = 4  # batches (or COPY chunks) read ahead of the writer


class Source:
    """What a copy reads: the open source database, the statement and its arguments, its columns, and
    its rows as an iterator of batches (already started when the first batch was sniffed for types)."""

    def __init__(
        self,
        database: Database,
        sql: str,
        args: Sequence[Any],
        columns: list[Column],
        rows: Batches,
        table: TableName | None = None,
    ) -> None:
        self.database, self.sql, self.args, self.columns, self.rows = database, sql, args, columns, rows
        self.table = table  # when the copy reads a whole table (`source_table`)

    async def sniffed(self) -> Source:
        """This source with its untyped columns (SQLite expressions) typed by their first values."""
        if not any(c.type.kind is Kind.OTHER and not c.type.declared for c in self.columns):
            return self
        first = await anext(self.rows, None)
        columns, rows = sniff(self.columns, first or []), _chain(first, self.rows)
        return Source(self.database, self.sql, self.args, columns, rows, self.table)


class CopyRun:
    """One attempt of one copy, from its open source into its target table."""

    def __init__(
        self,
        ctx: StepContext,
        planner: Planner,
        source: Source,
        *,
        mode: Literal["replace", "append", "upsert"],
        create: bool,
        progress_every: int,
        batch_size: int,
        connectors: Connectors,
        target: Connector,
    ) -> None:
        self.ctx = ctx
        self.step = ctx.step
        self.planner = planner
        self.table: TableName = planner.table
        self.key = planner.key if mode == "upsert" else ()
        self.mode: Literal["replace", "append", "upsert"] = mode
        self.source = source
        self.create = create
        self.progress_every = progress_every
        self.batch_size = batch_size
        self.connectors = connectors
        self.target = target
        self.rows = 0
        self.started = anyio.current_time()
        self._next_progress = progress_every

    async def into(self, target: Database) -> Loaded:
        """Load the rows into the target (`target.load` drives the rest of this class)."""
        return await target.load(self)

    # --- planning ---

    async def plan_for(self, target: Database, existing: list[Column] | None) -> Plan:
        if existing is None and not self.create:
            raise await self._missing_table(target)
        return self.planner.plan(self.source.columns, existing)

    async def _missing_table(self, target: Database) -> CopyFailed:
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
            f"'{self.target.name}'{hint}; set create = true to create it from the source's columns"
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
            every = self.progress_every
            self._next_progress = (self.rows // every + 1) * every

    def log(self, message: str) -> None:
        self.ctx.log.info(message)

    # --- moving rows ---

    @asynccontextmanager
    async def batches(self, plan: Plan) -> AsyncIterator[Batches]:
        """The source's batches, converted by a task that reads ahead of the writer (memory holds at
        most `QUEUE` batches). Leaving the block early stops the reader."""
        send, receive = anyio.create_memory_object_stream[Sequence[Sequence[Any]]](QUEUE)

        async def produce() -> None:
            offset = 0
            async with send:
                async for batch in self.source.rows:
                    await send.send(plan.apply(self.step, batch, offset))
                    offset += len(batch)

        with single_errors():
            async with anyio.create_task_group() as group, receive:
                group.start_soon(produce)
                yield receive

    async def relay(self, target: Database, plan: Plan, into: TableName) -> None:
        """The source's COPY TO STDOUT (binary) into the target's COPY FROM STDIN: as it comes in
        pass-through, through the plan's rewriter when it splices."""
        source = self.source.database
        if not isinstance(source, Postgres) or not isinstance(target, Postgres):
            raise CopyFailed(f"step '{self.step}': COPY data is relayed only between PostgreSQL databases")
        send, receive = anyio.create_memory_object_stream[bytes](QUEUE * 4)
        rewriter = plan.rewriter() if plan.recoded else None
        if rewriter is not None:
            names = ", ".join(plan.source[i].name for i in plan.recoded)
            self.ctx.log.info(f"converting {names} in Python; the other columns' COPY data passes through")
        sql = self.source.sql
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
                await source.copy_out(sql, self.source.args, send.send if rewriter is None else rewrite)
                if rewriter is not None:
                    rewriter.finish()

        try:
            with single_errors():
                async with anyio.create_task_group() as group:
                    group.start_soon(produce)
                    chunks = receive if rewriter is not None else self._logged(receive)
                    self.rows = await target.copy_in(into, plan.names, _closing(receive, chunks))
        except RowRejected as exc:
            raise CopyFailed(f"step '{self.step}': {exc}") from None

    async def relay_text(self, target: Database, plan: Plan, into: TableName) -> None:
        """The rows as text from one server to the other (copy_text), never made Python values."""
        source = self.source.database
        if plan.relay_converted:
            names = ", ".join(plan.source[i].name for i in plan.relay_converted)
            self.log(f"the rows go from server to server as text; {names} converted in Python on the way")
        else:
            self.log("every column keeps its type: the rows go from server to server as text")
        if isinstance(source, Postgres) and isinstance(target, MySql):
            await self._postgres_to_mariadb(source, target, plan, into)
        elif isinstance(source, MySql) and isinstance(target, Postgres):
            backslashes = await source.backslash_escapes()
            converted = plan.relay_converted
            sql = copy_text.mariadb_select(
                plan.source, plan.types, source.quote, self.source.sql, backslashes, converted
            )
            parts = copy_fields.parts_of(converted, len(plan.source))
            fields = {parts[f.index]: f for f in plan.python_fields()}

            def lines(rows: Sequence[Sequence[Any]], offset: int) -> bytes:
                return copy_fields.lines(rows, fields, offset)

            to_lines = lines if fields else copy_text.copy_lines
            await self._lines_to_postgres(self._row_lines(source, sql, to_lines), target, plan, into)
        elif isinstance(source, Sqlite) and isinstance(target, Postgres):
            await self._sqlite_to_postgres(source, target, plan, into)
        else:
            raise CopyFailed(
                f"step '{self.step}': rows are relayed as text only between PostgreSQL and MariaDB, "
                "and from SQLite into PostgreSQL"
            )

    async def _sqlite_to_postgres(
        self, source: Sqlite, target: Postgres, plan: Plan, into: TableName
    ) -> None:
        """SQLite writes the COPY text lines, calling Python for the few values it cannot spell itself
        and for the columns the copy converts."""
        fields = plan.python_fields()
        helpers = {
            copy_text.SQLITE_FLOAT: copy_text.float_text,
            copy_text.SQLITE_UTC: copy_text.naive_utc_text,
        }
        await source.functions(helpers | {f.name: f.field for f in fields})
        converted = {f.index: f.name for f in fields}
        line = copy_text.sqlite_line(plan.source, plan.types, source.quote, converted)
        table = self.source.table
        if table is not None and await source.rowid_table(table):
            lines = _encoded(source.line_chunks(line, table, self.batch_size))
        else:
            sql = f"SELECT {line} AS nf_line FROM (\n{self.source.sql}\n) AS nf_source"
            lines = self._row_lines(source, sql, copy_text.copy_lines)
        try:
            await self._lines_to_postgres(lines, target, plan, into)
        except Exception:
            failed = next((f for f in fields if f.failure is not None), None)
            if failed is None:
                raise
            raise await self._refused_in_python(source, failed) from None

    async def _refused_in_python(self, source: Sqlite, field: PythonField) -> CopyFailed:
        """The copy's error for a value a converted column refused, naming its row: SQLite stops the
        statement without saying where, so the column is read again up to the first value it refuses."""
        assert field.failure is not None  # how the caller chose this field
        value, exc = field.failure
        sql = f"SELECT {source.quote(field.column)} FROM (\n{self.source.sql}\n) AS nf_source"
        try:
            number = 0
            async with aclosing(source.batches(sql, self.source.args, self.batch_size)) as batches:
                async for rows in batches:
                    for (found,) in rows:
                        number += 1
                        if (refused := field.refusal(found)) is not None:
                            return CopyFailed(f"step '{self.step}': {field.refused(number, found, refused)}")
        except Exception:
            pass  # the message below still names the column and the value
        return CopyFailed(f"step '{self.step}': {rejected_value(field.column, value, field.described, exc)}")

    async def _postgres_to_mariadb(
        self, source: Postgres, target: MySql, plan: Plan, into: TableName
    ) -> None:
        """COPY (query) TO STDOUT in text, cut at row ends, into LOAD DATA LOCAL INFILE. The COPY starts
        only when the server asks for the data: one that refuses LOCAL INFILE leaves the source unread."""
        sql = copy_text.postgres_select(plan.source, source.quote, self.source.sql, plan.relay_converted)
        send, receive = anyio.create_memory_object_stream[bytes](QUEUE * 4)
        fields = {
            f.index: f
            for f in plan.python_fields(
                copy_fields.read_from_postgres, lambda kind: mysql_infile.encoders([kind])[0]
            )
        }
        stream = _Requested(receive, self.counted, fields)

        async def produce() -> None:
            async with send:
                await stream.wanted.wait()
                await source.settings(copy_text.POSTGRES_SETTINGS)
                await source.copy_out(sql, self.source.args, send.send, format="text")

        try:
            with single_errors():
                async with anyio.create_task_group() as group, receive:
                    group.start_soon(produce)
                    self.rows = await target.load_stream(self.step, into, plan, stream)
        except copy_fields.Refused as exc:
            raise CopyFailed(f"step '{self.step}': {exc}") from None

    async def _row_lines(
        self, source: Database, sql: str, to_lines: Callable[[Sequence[Sequence[Any]], int], bytes]
    ) -> AsyncGenerator[tuple[bytes, int], None]:
        """The rows of `sql` (whose columns are a line of COPY text, or parts of one) `batch_size` at a
        time, made lines by `to_lines` (copy_text.copy_lines, copy_fields.lines); each with its count."""
        offset = 0
        async with aclosing(source.batches(sql, self.source.args, self.batch_size)) as batches:
            async for rows in batches:
                yield to_lines(rows, offset), len(rows)
                offset += len(rows)

    async def _lines_to_postgres(
        self, lines: AsyncGenerator[tuple[bytes, int], None], target: Postgres, plan: Plan, into: TableName
    ) -> None:
        """The source's lines of COPY text (with their row counts) into COPY FROM STDIN (text), read
        ahead on a task of their own while the previous ones are written."""
        send, receive = anyio.create_memory_object_stream[bytes](QUEUE)

        async def produce() -> None:
            async with send, aclosing(lines):
                async for data, count in lines:
                    await send.send(data)
                    self.counted(count)

        try:
            with single_errors():
                async with anyio.create_task_group() as group:
                    group.start_soon(produce)
                    self.rows = await target.copy_in(
                        into, plan.names, _closing(receive, receive), format="text"
                    )
        except (copy_text.LineTooLong, copy_fields.Refused) as exc:
            raise CopyFailed(f"step '{self.step}': {exc}") from None
        except Exception as exc:
            rejected = copy_text.postgres_rejection(exc)
            if rejected is None:
                raise
            raise CopyFailed(f"step '{self.step}': {rejected}") from None

    async def text_into_sqlite(self, target: Database, plan: Plan, into: TableName) -> None:
        """PostgreSQL's COPY text into SQLite (copy_sqlite_text), in the target's one write transaction:
        the reader task cuts the text into batches of whole lines (`BATCH_BYTES`), and each batch goes
        into multi-row INSERTs whose rows are split and read on the driver's thread as it binds them,
        while the next batch is read. A session whose DateStyle is not ISO (its dates would not read)
        takes the way of Python values."""
        source, columns = self.source.database, copy_sqlite_text.text_columns(plan)
        if not isinstance(source, Postgres) or not isinstance(target, Sqlite) or columns is None:
            raise CopyFailed(
                f"step '{self.step}': rows are read as COPY text only from PostgreSQL into SQLite"
            )
        if not await source.iso_dates():
            self.log("the rows go as Python values: the source session's DateStyle is not ISO")
            async with self.batches(plan) as batches:
                await target.insert_batches(self, target.insert_sql(into, plan.names, self.key), batches)
            return
        read = copy_sqlite_text.converted(plan)
        self.log(
            "the rows leave PostgreSQL as text"
            + (f"; {', '.join(read)} converted in Python" if read else ", every column keeps its type")
        )
        sql = copy_sqlite_text.postgres_select(
            columns, [c.name for c in plan.source], source.quote, self.source.sql
        )
        text = copy_sqlite_text.TextRows(columns)
        per = copy_sqlite_text.rows_per_insert(len(columns))
        statements = _Inserts(target, into, plan.names, self.key, per)
        send, receive = anyio.create_memory_object_stream[copy_sqlite_text.Lines](QUEUE)

        async def take(chunk: bytes) -> None:
            lines = text.feed(chunk)
            if lines is not None:
                await send.send(lines)

        async def produce() -> None:
            async with send:
                await source.copy_out(sql, self.source.args, take, format="text")
                last = text.finish()
                if last is not None:
                    await send.send(last)

        try:
            with single_errors():
                async with anyio.create_task_group() as group, receive:
                    group.start_soon(produce)
                    async for lines in receive:
                        await self._insert_lines(target, statements, text, lines)
        except copy_sqlite_text.RowRefused as exc:
            raise CopyFailed(f"step '{self.step}': {exc}") from None

    async def _insert_lines(
        self,
        target: Sqlite,
        statements: _Inserts,
        text: copy_sqlite_text.TextRows,
        lines: copy_sqlite_text.Lines,
    ) -> None:
        """One batch of lines: groups of `per` rows through one multi-row INSERT, then the rest."""
        count, per = len(lines.lines), statements.per
        whole = count - count % per
        if whole:
            await target.executemany(statements.of(per), text.groups(lines, 0, whole, per))
        if whole < count:
            rest = count - whole
            await target.executemany(statements.of(rest), text.groups(lines, whole, count, rest))
        self.counted(count)

    async def _logged(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass-through chunks, with a progress line every `PASSTHROUGH_PROGRESS_BYTES` (spliced copies
        count rows instead)."""
        streamed, next_log = 0, PASSTHROUGH_PROGRESS_BYTES
        async for chunk in chunks:
            yield chunk
            streamed += len(chunk)
            if streamed >= next_log:
                next_log += PASSTHROUGH_PROGRESS_BYTES
                elapsed = max(anyio.current_time() - self.started, 1e-9)
                self.ctx.log.info(
                    f"{streamed / 2**20:,.0f} MiB of COPY data passed through "
                    f"({streamed / 2**20 / elapsed:,.1f} MiB/s)",
                    bytes=streamed,
                )

    async def drop_quietly(self, target: Database, table: TableName) -> None:
        statement = f"DROP TABLE IF EXISTS {target.qualified(table)}"
        try:
            await target.execute(statement)
            return
        except Exception:
            pass
        try:
            async with self.connectors.connect(self.target.name) as link:
                await Database.of(link).execute(statement)
        except Exception as exc:
            self.ctx.log.error(f"could not drop {table} after the failure: {self.target.scrub(str(exc))}")


class _Inserts:
    """The multi-row INSERT (or upsert) statements of a copy into SQLite, by their number of rows."""

    def __init__(
        self, target: Sqlite, into: TableName, names: Sequence[str], key: Sequence[str], per: int
    ) -> None:
        self.target, self.into, self.names, self.key, self.per = target, into, names, key, per
        self._made: dict[int, str] = {}

    def of(self, rows: int) -> str:
        if rows not in self._made:
            self._made[rows] = self.target.insert_sql(self.into, self.names, self.key, rows=rows)
        return self._made[rows]


class _Requested:
    """The COPY text LOAD DATA reads, in whole rows (counted as they go), the `fields` columns (by index)
    converted in Python; `wanted` is set when the server asks for it."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        counted: Callable[[int], None],
        fields: Mapping[int, copy_fields.PythonField],
    ) -> None:
        self.chunks, self.counted, self.fields = chunks, counted, fields
        self.wanted = anyio.Event()
        self.started = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        self.wanted.set()
        lines, rows = copy_text.WholeLines(), 0
        async for chunk in self.chunks:
            data = lines.feed(chunk)
            if data:
                count = data.count(b"\n")
                if self.fields:
                    data = copy_fields.load_lines(data, self.fields, rows)
                rows += count
                self.counted(count)
                yield copy_text.for_load_data(data)
        if lines.tail:  # COPY text ends with a newline: only a broken stream leaves a tail
            yield copy_text.for_load_data(lines.tail)


async def _encoded(
    chunks: AsyncGenerator[tuple[str, int], None],
) -> AsyncGenerator[tuple[bytes, int], None]:
    """SQLite's chunks of lines as the bytes COPY reads, each ending with its newline."""
    async with aclosing(chunks):
        async for text, count in chunks:
            yield (text + "\n").encode(), count


async def _closing(stream: Any, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async with stream:
        async for chunk in chunks:
            yield chunk


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


async def _chain(first: Sequence[Sequence[Any]] | None, rest: Batches) -> Batches:
    if first:
        yield first
    async for batch in rest:
        yield batch
