"""The `sql_query` step: run one named query on a connector, with bound parameters.

`query = "<name>:read"` streams the result through a server-side cursor and records the row count and the
first `max_rows` rows. `query = "<name>:write"` runs in a transaction and records the rows it touched; in
a dry run the transaction is rolled back, so the output says what the query would have done.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.resources.connectors import Connector, ConnectorError, Connectors, connectors_for
from nomaflow.engine.resources.queries import (
    NamedQuery,
    QueryBook,
    QueryError,
    QueryRef,
    Template,
    parse_reference,
    queries_for,
)
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.sql.dialects import Database, ResultColumn
from nomaflow.engine.steps.sql.errors import failure
from nomaflow.engine.steps.sql.types import Kind
from nomaflow.engine.steps.targets import named_connector_problems

# DDL cannot be rolled back on MariaDB/MySQL: a dry run refuses it instead of running it for real.
_MYSQL_DDL = re.compile(r"^\s*(create|alter|drop|truncate|rename|grant|revoke)\b", re.IGNORECASE)


class SqlQueryOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    connector: str
    query: str  # "<name>:read" or "<name>:write" (or "<app>/<name>:...")
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    max_rows: int = 20  # how many rows of a read the output keeps


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def check_query(
    connectors: Connectors,
    book: QueryBook,
    connector: str,
    reference: str,
    params: dict[str, Any],
    *,
    query_field: str = "query",
    allowed_modes: Sequence[str | None] = ("read", "write"),
    mode_hint: str = "",
) -> list[tuple[str, str]]:
    """Load-time problems with a (connector, named query, params) triple, by field."""
    problems: list[tuple[str, str]] = []
    dialect = "postgresql"
    if not is_templated(connector):
        try:
            dialect = connectors.get(connector).dialect
        except ConnectorError as exc:
            problems.append(("connector", str(exc)))
    if is_templated(reference):
        return problems
    try:
        ref = parse_reference(reference)
        if ref.mode not in allowed_modes:
            problems.append(
                (query_field, mode_hint or f"'{reference}': say ':read' or ':write' after the query name")
            )
        template = book.find(ref).template(dialect)  # type: ignore[arg-type]
    except QueryError as exc:
        problems.append((query_field, str(exc)))
        return problems
    expected = template.params
    for name in expected:
        if name not in params:
            problems.append(
                (f"params.{name}", f"query '{reference}' uses :{name}, which params does not give")
            )
    for name in params:
        if name not in expected:
            uses = ", ".join(f":{p}" for p in expected) or "no parameters"
            problems.append(
                (
                    f"params.{name}",
                    f"query '{reference}' has no parameter :{name}{did_you_mean(name, expected)} "
                    f"(it uses {uses})",
                )
            )
    return problems


def resolve_query(step: str, book: QueryBook, reference: str) -> tuple[QueryRef, NamedQuery]:
    try:
        ref = parse_reference(reference)
        return ref, book.find(ref)
    except QueryError as exc:
        raise PermanentStepFailure(f"step '{step}': query: {exc}") from exc


def resolve_connector(step: str, connectors: Connectors, name: str) -> Connector:
    try:
        return connectors.get(name)
    except ConnectorError as exc:
        raise PermanentStepFailure(f"step '{step}': connector: {exc}") from exc


def connector_secrets(connectors: Connectors, names: Sequence[str]) -> list[str]:
    """The passwords (and ${env.*} values) in these connectors' URLs: a driver's error may quote them."""
    usable = [name for name in names if connectors.problem(name) is None]
    return [secret for name in usable for secret in connectors.get(name).secrets]


def jsonable(value: Any, kind: Kind) -> Any:
    """A value as step outputs hold it: JSON types only (numbers stay exact as text)."""
    if kind is Kind.JSON and isinstance(value, str):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            return value
    return msgspec.to_builtins(value, enc_hook=str)


def as_records(columns: Sequence[ResultColumn], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{c.name: jsonable(v, c.kind) for c, v in zip(columns, row, strict=False)} for row in rows]


class SqlQuery(StepType[SqlQueryOptions]):
    name = "sql_query"
    options = SqlQueryOptions

    def __init__(self, env: StepEnvironment) -> None:
        super().__init__(env)
        self.connectors = connectors_for(env)
        self.queries = queries_for(env)

    def check(self, options: SqlQueryOptions) -> list[tuple[str, str]]:
        problems = named_connector_problems([("connector", options.connector)])
        problems += check_query(
            self.connectors, self.queries, options.connector, options.query, options.params
        )
        if options.max_rows < 0:
            problems.append(("max_rows", f"expected a number >= 0, got {options.max_rows}"))
        return problems

    async def run(self, ctx: StepContext, options: SqlQueryOptions) -> Any:
        connector = resolve_connector(ctx.step, self.connectors, options.connector)
        ref, query = resolve_query(ctx.step, self.queries, options.query)
        if ref.mode is None:
            raise PermanentStepFailure(
                f"step '{ctx.step}': query: '{options.query}': say ':read' or ':write'"
            )
        template = query.template(connector.dialect)
        doing = f"running query '{ref.text}' on connector '{connector.name}'"
        try:
            async with self.connectors.connect(connector.name) as link:
                database = Database.of(link)
                if ref.mode == "read":
                    return await self._read(ctx, database, template, options)
                return await self._write(ctx, database, template, options, ref)
        except PermanentStepFailure:
            raise
        except Exception as exc:
            raise failure(exc, step=ctx.step, doing=doing, connectors=(connector,)) from exc

    async def _read(
        self, ctx: StepContext, database: Database, template: Template, options: SqlQueryOptions
    ) -> dict[str, Any]:
        async with database.read_transaction():
            sql, args = await database.bind(template, options.params)
            columns = await database.result_columns(sql, args)
            count = 0
            kept: list[Sequence[Any]] = []
            async for batch in database.batches(sql, args, 1000):
                count += len(batch)
                if len(kept) < options.max_rows:
                    kept.extend(batch[: options.max_rows - len(kept)])
        ctx.log.info(f"read {count} rows", rows=count)
        return {
            "rows": count,
            "columns": [c.name for c in columns],
            "first_rows": as_records(columns, kept),
            "truncated": count > len(kept),
        }

    async def _write(
        self,
        ctx: StepContext,
        database: Database,
        template: Template,
        options: SqlQueryOptions,
        ref: QueryRef,
    ) -> dict[str, Any]:
        if ctx.dry_run and database.dialect == "mysql" and _MYSQL_DDL.match(template.parts[0]):
            raise PermanentStepFailure(
                f"step '{ctx.step}': query '{ref.text}' changes the schema, which MariaDB/MySQL cannot roll "
                "back: a dry run does not run it"
            )
        async with database.write_transaction(commit=not ctx.dry_run):
            sql, args = await database.bind(template, options.params)
            count, names, rows = await database.write(sql, args, options.max_rows)
        verb = "would have touched" if ctx.dry_run else "touched"
        ctx.log.info(
            f"query {verb} {count} rows" + (" (rolled back: dry run)" if ctx.dry_run else ""), rows=count
        )
        output: dict[str, Any] = {
            "rows_affected": count,
            "dry_run": ctx.dry_run,
            "committed": not ctx.dry_run,
        }
        if names:
            columns = [ResultColumn(n, Kind.OTHER) for n in names]
            output["columns"] = names
            output["first_rows"] = as_records(columns, rows)
        return output

    def secrets(self, options: SqlQueryOptions) -> list[str]:
        return connector_secrets(self.connectors, [options.connector])

    async def aclose(self) -> None:
        await self.connectors.aclose()
