"""The options of the `sql_copy` step and their checks at load time (templated fields are checked again
when the run knows them)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from nomaflow.engine.resources.connectors import Connectors, Dialect
from nomaflow.engine.resources.queries import QueryBook
from nomaflow.engine.steps.sql.names import BadName, TableName, check_name
from nomaflow.engine.steps.sql.query import check_query, is_templated
from nomaflow.engine.steps.sql.types import check_override, parse_override
from nomaflow.engine.steps.targets import named_connector_problems

Problems = list[tuple[str, str]]  # (option, what is wrong with it)


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


def option_problems(options: SqlCopyOptions, connectors: Connectors, queries: QueryBook) -> Problems:
    """Everything wrong with `options`, each as (option, message)."""
    problems = named_connector_problems([("source", options.source), ("target", options.target)])
    problems += _source_problems(options, connectors, queries)
    target_dialect, target_problems = _target_dialect(options, connectors)
    problems += target_problems
    problems += _table_problems(options)
    problems += _key_problems(options)
    problems += _column_problems(options, target_dialect)
    problems += _number_problems(options)
    return problems


def _source_problems(options: SqlCopyOptions, connectors: Connectors, queries: QueryBook) -> Problems:
    problems: Problems = []
    if (options.query is None) == (options.source_table is None):
        problems.append(
            ("query", "give either query (a named query) or source_table (a whole table), not both")
        )
    if options.query is not None:
        for where, message in check_query(
            connectors,
            queries,
            options.source,
            options.query,
            options.params,
            allowed_modes=(None, "read"),
            mode_hint=f"'{options.query}': sql_copy reads its source: write the query name, or '<name>:read'",
        ):
            problems.append(("source" if where == "connector" else where, message))
    elif not is_templated(options.source) and (problem := connectors.problem(options.source)):
        problems.append(("source", problem))
    if options.source_table is not None and options.params:
        problems.append(("params", "params are for a named query; source_table takes none"))
    return problems


def _target_dialect(options: SqlCopyOptions, connectors: Connectors) -> tuple[Dialect | None, Problems]:
    if is_templated(options.target):
        return None, []
    try:
        return connectors.get(options.target).dialect, []
    except Exception as exc:
        return None, [("target", str(exc))]


def _table_problems(options: SqlCopyOptions) -> Problems:
    problems: Problems = []
    for field_name, value in (("table", options.table), ("source_table", options.source_table)):
        if value is not None and not is_templated(value):
            try:
                TableName.parse(value, field_name)
            except BadName as exc:
                problems.append((field_name, str(exc)))
    return problems


def _key_problems(options: SqlCopyOptions) -> Problems:
    problems: Problems = []
    if options.mode == "upsert" and not options.key:
        problems.append(("key", 'mode = "upsert" needs key = [...], the columns that identify a row'))
    if options.key and options.mode != "upsert":
        problems.append(("key", f'key is only used by mode = "upsert", not "{options.mode}"'))
    for key in options.key:
        try:
            check_name(key, "key column")
        except BadName as exc:
            problems.append(("key", str(exc)))
    return problems


def _column_problems(options: SqlCopyOptions, target_dialect: Dialect | None) -> Problems:
    problems: Problems = []
    if options.columns and not options.create:
        problems.append(("columns", "column types apply when the step creates the table: set create = true"))
    for column, declared in options.columns.items():
        try:
            check_name(column, "column")
            check_override(declared)
            if target_dialect is not None:
                parse_override(declared, target_dialect)
        except (BadName, ValueError) as exc:
            problems.append((f"columns.{column}", str(exc)))
    return problems


def _number_problems(options: SqlCopyOptions) -> Problems:
    problems: Problems = []
    if not 1 <= options.batch_size <= 1_000_000:
        problems.append(("batch_size", f"expected 1 to 1000000, got {options.batch_size}"))
    if options.progress_every < 1:
        problems.append(("progress_every", f"expected a number >= 1, got {options.progress_every}"))
    return problems
