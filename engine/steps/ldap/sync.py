"""The `ldap_sync` step: mirror a directory subtree into a table (ldap3 paged search, then one upsert).

The directory is read first, page by page, in a worker thread (ldap3 is synchronous); every entry
becomes a row keyed by the `key` column, converted to the table's column types. Then, in one
transaction, the rows are compared with the table and only the difference is written: new keys are
inserted, changed rows updated, and rows whose entry is gone kept, deleted or flagged (`on_missing`).
Nothing is written if anything fails, and a dry run computes the same counts without writing.

Filter values from run-time input never reach the filter as text: the filter names `{placeholders}` and
`filter_values` gives their values, which are escaped (RFC 4515) before they are put in (`options.py`).
The directory is read by `directory.py`; the table compared and written by `table.py`.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
import sqlalchemy as sa

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.templating import REDACTED
from nomaflow.engine.resources.connectors import Connector, ConnectorError, connectors_for
from nomaflow.engine.resources.drivers import missing_driver
from nomaflow.engine.steps.base import StepType
from nomaflow.engine.steps.ldap.directory import read_directory
from nomaflow.engine.steps.ldap.options import (
    LdapSyncOptions,
    filter_problems,
    mapping_problems,
    mappings,
    parse_server,
    render_filter,
)
from nomaflow.engine.steps.ldap.table import (
    Convert,
    TableProblem,
    Target,
    apply_changes,
    describe_table,
    plan_changes,
    resolve_column,
    value_converter,
)
from nomaflow.engine.steps.sql.types import Kind
from nomaflow.engine.steps.targets import configured_value_problems, named_connector_problems

__all__ = ["LdapSyncOptions", "LdapSyncStep", "render_filter"]


class LdapSyncStep(StepType[LdapSyncOptions]):
    name = "ldap_sync"
    options = LdapSyncOptions

    # --- load time ---

    def check(self, options: LdapSyncOptions) -> list[tuple[str, str]]:
        missing = missing_driver("ldap3", "the ldap_sync step")
        if missing is not None:
            return [("type", missing)]
        problems: list[tuple[str, str]] = []
        if "${" not in options.server:
            try:
                address = parse_server(options.server)
            except ValueError as exc:
                problems.append(("server", str(exc)))
            else:
                if address.use_ssl and options.start_tls:
                    problems.append(
                        ("start_tls", "ldaps:// is already encrypted: use start_tls with ldap:// only")
                    )
        problems += named_connector_problems([("connector", options.connector)])
        configured = ("server", "bind_dn", "bind_password", "tls_ca_file")
        problems += configured_value_problems((field, getattr(options, field)) for field in configured)
        for field in ("table", "key", "flag_column"):
            if "${" in getattr(options, field):
                problems.append((field, "may not be templated: it is part of the job's definition"))
        problems += mapping_problems(options)
        problems += filter_problems(options.filter, dict(options.filter_values))
        if options.page_size < 1:
            problems.append(("page_size", f"expected a number of entries >= 1, got {options.page_size}"))
        for field in ("connect_timeout_seconds", "receive_timeout_seconds"):
            if not 0 < getattr(options, field) <= 86_400:  # so written, nan and inf are refused too
                problems.append(
                    (field, f"expected a number of seconds > 0 and <= 86400, got {getattr(options, field)}")
                )
        if "${" not in options.connector and (problem := connectors_for(self.env).problem(options.connector)):
            problems.append(("connector", problem))
        return problems

    def redact(self, rendered: dict[str, Any]) -> dict[str, Any]:
        shown = dict(rendered)
        if shown.get("bind_password"):
            shown["bind_password"] = REDACTED
        return shown

    # --- run time ---

    async def aclose(self) -> None:
        registry = self.env.resources.get("connectors")
        if registry is not None:
            await registry.aclose()

    def secrets(self, options: LdapSyncOptions) -> list[str]:
        # No message quotes the password; scrubbing it is the belt to those braces (a server may echo
        # it). The connector's password, should a driver's error show it, goes too.
        found = [options.bind_password] if options.bind_password else []
        registry = connectors_for(self.env)
        if registry.problem(options.connector) is None:
            found += registry.get(options.connector).secrets
        return found

    async def run(self, ctx: StepContext, options: LdapSyncOptions) -> dict[str, int]:
        def bad(field: str, message: str) -> PermanentStepFailure:
            return PermanentStepFailure(f"step '{ctx.step}': {field}: {message}")

        problems = self.check(options)
        if problems:
            raise bad(*problems[0])
        address = parse_server(options.server)
        try:
            connector = connectors_for(self.env).get(options.connector)
        except ConnectorError as exc:
            raise bad("connector", str(exc)) from exc
        try:
            target, converters = await self._target(options, connector)
        except TableProblem as exc:
            raise bad(exc.field, f"{exc} (connector '{connector.name}')") from exc
        except Exception as exc:
            raise _database_failure(ctx, connector, "reading the table's columns", exc) from exc

        search = functools.partial(read_directory, ctx, options, address, target, converters, self.env.root)
        rows = await anyio.to_thread.run_sync(search, abandon_on_cancel=True)

        try:
            counts = await self._write(ctx, options, target, rows)
        except PermanentStepFailure:
            raise
        except Exception as exc:
            raise _database_failure(ctx, connector, f"writing to table '{options.table}'", exc) from exc
        summary = ", ".join(f"{name} {value}" for name, value in counts.items())
        ctx.log.info(("dry run, nothing written: " if ctx.dry_run else "") + summary)
        return counts

    async def _target(
        self, options: LdapSyncOptions, connector: Connector
    ) -> tuple[Target, list[Convert | None]]:
        engine = connectors_for(self.env).engine(connector.name)
        columns = await describe_table(engine, options.table, connector.dialect)
        found = mappings(options)
        resolved = [
            resolve_column(columns, m.column, f"attributes.{m.attribute}", options.table) for m in found
        ]
        key_index = next(i for i, m in enumerate(found) if m.column.lower() == options.key.lower())
        flag = None
        if options.on_missing == "flag":
            flag = resolve_column(columns, options.flag_column, "flag_column", options.table)
            if flag.kind not in (Kind.BOOLEAN, Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT):
                raise TableProblem(
                    "flag_column", f"column '{flag.name}' is {flag.type}, not a boolean column"
                )
        for mapping, column in zip(found, resolved, strict=True):
            if column.kind is Kind.BINARY and mapping.multi == "join":
                raise TableProblem(
                    f"attributes.{mapping.attribute}",
                    f"binary column '{column.name}' cannot take joined values",
                )
        target = Target(
            engine=engine,
            dialect=connector.dialect,
            table=options.table,
            columns=tuple(resolved),
            key_index=key_index,
            flag=flag,
            on_missing=options.on_missing,
        )
        return target, [value_converter(column) for column in resolved]

    async def _write(
        self, ctx: StepContext, options: LdapSyncOptions, target: Target, rows: dict[Any, tuple[Any, ...]]
    ) -> dict[str, int]:
        async with target.engine.connect() as connection:
            try:
                if target.dialect == "sqlite" and not ctx.dry_run:
                    # Take the write lock now: the comparison must not go stale before the writes.
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                changes = await plan_changes(connection, target, rows)
                if not rows and not options.allow_empty and options.on_missing != "keep" and changes.missing:
                    fate = "deleted" if options.on_missing == "delete" else "flagged"
                    raise PermanentStepFailure(
                        f"step '{ctx.step}': filter: the search found no entries, so all "
                        f"{len(changes.missing)} rows would be {fate} (set allow_empty = true to allow it)"
                    )
                if ctx.dry_run:
                    await connection.rollback()
                else:
                    await apply_changes(connection, target, changes)
                    await connection.commit()
            except BaseException:
                # Whatever happened, nothing of this attempt may stay: drop the connection (and with it
                # the open transaction) rather than hand it back to the pool mid-transaction.
                with anyio.CancelScope(shield=True):
                    await connection.invalidate()
                raise
        return changes.counts.as_output()


def _database_failure(ctx: StepContext, connector: Connector, what: str, error: Exception) -> StepFailure:
    original = getattr(error, "orig", None) or error
    text = connector.scrub(f"{type(original).__name__}: {original}".strip())
    message = f"step '{ctx.step}': connector '{connector.name}': {what} failed: {text}"
    transient = isinstance(
        error, OSError | sa.exc.OperationalError | sa.exc.InterfaceError | TimeoutError
    ) or (isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated)
    return StepFailure(message) if transient else PermanentStepFailure(message)
