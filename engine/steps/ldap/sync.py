"""The `ldap_sync` step: mirror a directory subtree into a table (ldap3 paged search, then one upsert).

The directory is read first, page by page, in a worker thread (ldap3 is synchronous); every entry
becomes a row keyed by the `key` column, converted to the table's column types. Then, in one
transaction, the rows are compared with the table and only the difference is written: new keys are
inserted, changed rows updated, and rows whose entry is gone kept, deleted or flagged (`on_missing`).
Nothing is written if anything fails, and a dry run computes the same counts without writing.

Filter values from run-time input never reach the filter as text: the filter names `{placeholders}` and
`filter_values` gives their values, which are escaped (RFC 4515) before they are put in.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import ssl
import sys
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec
import sqlalchemy as sa

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.templating import REDACTED
from nomaflow.engine.resources.connectors import Connector, ConnectorError, connectors_for
from nomaflow.engine.resources.drivers import missing_driver
from nomaflow.engine.steps.base import StepType
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
from nomaflow.engine.steps.sql.types import Kind, ValueMismatch, describe_value
from nomaflow.engine.steps.targets import configured_value_problems, named_connector_problems

if TYPE_CHECKING:
    import ldap3


def _import_ldap3() -> None:
    """Import ldap3 (the `ldap` extra) where a step first needs it, not when Nomaflow loads."""
    if "ldap3.utils.conv" in sys.modules:
        return
    with warnings.catch_warnings():
        # ldap3 2.9 imports names that pyasn1 0.6 renamed (tagMap -> TAG_MAP); pyasn1 warns once, at import.
        warnings.filterwarnings("ignore", r".* is deprecated\. Please use .* instead", DeprecationWarning)
        import ldap3.core.exceptions
        import ldap3.operation.search
        import ldap3.utils.conv  # noqa: F401


DN = "dn"  # the pseudo-attribute naming the entry's distinguished name
_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCOPES: dict[str, Literal["BASE", "LEVEL", "SUBTREE"]] = {
    "base": "BASE",
    "one": "LEVEL",
    "subtree": "SUBTREE",
}
# Result codes worth another attempt: the server is busy, unavailable or ran out of time.
_TRANSIENT_RESULTS = {3: "timeLimitExceeded", 51: "busy", 52: "unavailable", 80: "other"}
_INVALID_CREDENTIALS = 49


class AttributeMapping(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    column: str
    multi: Literal["first", "join"] = "first"  # several values: keep the first, or join them all
    separator: str = ","


class LdapSyncOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: str  # ldap://host[:port] or ldaps://host[:port]
    base_dn: str
    attributes: dict[str, str | AttributeMapping]  # LDAP attribute (or "dn") -> column
    connector: str
    table: str  # may be "schema.table"
    key: str  # the column that identifies a row; it must be one of the mapped columns
    bind_dn: str = ""  # empty: an anonymous bind
    bind_password: str = ""
    start_tls: bool = False
    tls_verify: bool = True
    tls_ca_file: str = ""  # relative to app.toml's folder
    scope: Literal["base", "one", "subtree"] = "subtree"
    filter: str = "(objectClass=*)"
    filter_values: dict[str, str | int | bool] = msgspec.field(default_factory=dict)
    page_size: int = 500
    on_missing: Literal["keep", "delete", "flag"] = "keep"
    flag_column: str = ""  # with on_missing = "flag": a boolean column set true while the entry is gone
    allow_empty: bool = False  # let a search that finds nothing delete or flag every row
    connect_timeout_seconds: float = 10.0
    receive_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class ColumnMapping:
    attribute: str
    column: str
    multi: str
    separator: str


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    use_ssl: bool

    @property
    def shown(self) -> str:
        return f"{'ldaps' if self.use_ssl else 'ldap'}://{self.host}:{self.port}"


def parse_server(url: str) -> ServerAddress:
    """ldap://host[:port] or ldaps://host[:port]; raise ValueError saying what is wrong."""
    try:
        parsed = urllib.parse.urlsplit(url.strip())
        port = parsed.port
    except ValueError as exc:
        raise ValueError(f"'{url}' is not a valid LDAP URL: {exc}") from None
    if parsed.scheme not in ("ldap", "ldaps"):
        raise ValueError(f"expected ldap://host[:port] or ldaps://host[:port], got '{url}'")
    if not parsed.hostname:
        raise ValueError(f"'{url}' names no host")
    if parsed.path not in ("", "/") or parsed.query or parsed.username:
        raise ValueError(f"'{url}': give the scheme, host and port only (base_dn and filter are options)")
    use_ssl = parsed.scheme == "ldaps"
    return ServerAddress(parsed.hostname, port or (636 if use_ssl else 389), use_ssl)


def mappings(options: LdapSyncOptions) -> list[ColumnMapping]:
    found = []
    for attribute, target in options.attributes.items():
        if isinstance(target, str):
            found.append(ColumnMapping(attribute, target, "first", ","))
        else:
            found.append(ColumnMapping(attribute, target.column, target.multi, target.separator))
    return found


def render_filter(template: str, values: dict[str, Any]) -> str:
    """`template` with each {name} replaced by its value, escaped; {{ and }} are literal braces."""

    _import_ldap3()
    from ldap3.utils.conv import escape_filter_chars

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        value = values[match.group(1)]
        if isinstance(value, bool):
            value = "TRUE" if value else "FALSE"  # LDAP's Boolean syntax
        return str(escape_filter_chars(str(value)))

    return _PLACEHOLDER.sub(substitute, template)


def filter_problems(template: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    if "${" in template:
        return [
            (
                "filter",
                "templates are not allowed in a filter, where a value could change its meaning: write a "
                "{name} placeholder and give its value in filter_values, which is escaped "
                '(e.g. filter = "(uid={user})" with filter_values = { user = "${params.user}" })',
            )
        ]
    used = {match.group(1) for match in _PLACEHOLDER.finditer(template) if match.group(1)}
    problems = [
        ("filter", f"{{{name}}} has no value in filter_values") for name in sorted(used - set(values))
    ]
    problems += [
        (f"filter_values.{name}", f"the filter has no {{{name}}} placeholder")
        for name in sorted(set(values) - used)
    ]
    if not problems:
        _import_ldap3()
        from ldap3.core import exceptions as ldap_errors
        from ldap3.operation.search import parse_filter

        try:
            parse_filter(render_filter(template, dict.fromkeys(used, "x")), None, True, True, None, False)  # type: ignore[no-untyped-call]
        except ldap_errors.LDAPInvalidFilterError as exc:
            problems.append(("filter", f"'{template}' is not a valid LDAP filter: {exc}"))
    return problems


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
        problems += self._mapping_problems(options)
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

    @staticmethod
    def _mapping_problems(options: LdapSyncOptions) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        found = mappings(options)
        if not found:
            problems.append(("attributes", "map at least one LDAP attribute to a column"))
        columns: dict[str, str] = {}
        for mapping in found:
            where = f"attributes.{mapping.attribute}"
            if not mapping.column.strip():
                problems.append((where, "the column name is empty"))
            elif (earlier := columns.get(mapping.column.lower())) is not None:
                problems.append((where, f"column '{mapping.column}' is already mapped from '{earlier}'"))
            else:
                columns[mapping.column.lower()] = mapping.attribute
            if mapping.multi == "join" and not mapping.separator:
                problems.append((f"{where}.separator", "joining values needs a separator"))
        if found and options.key.lower() not in columns:
            mapped = ", ".join(m.column for m in found)
            problems.append(("key", f"'{options.key}' is not one of the mapped columns ({mapped})"))
        if options.on_missing == "flag" and not options.flag_column:
            problems.append(("flag_column", 'on_missing = "flag" needs flag_column, a boolean column to set'))
        if options.flag_column and options.on_missing != "flag":
            problems.append(
                ("flag_column", f'is only used with on_missing = "flag" (not "{options.on_missing}")')
            )
        if options.flag_column and options.flag_column.lower() in columns:
            problems.append(("flag_column", f"'{options.flag_column}' is also a mapped column"))
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

        search = functools.partial(self._read_directory, ctx, options, address, target, converters)
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

    def _read_directory(
        self,
        ctx: StepContext,
        options: LdapSyncOptions,
        address: ServerAddress,
        target: Target,
        converters: list[Convert | None],
    ) -> dict[Any, tuple[Any, ...]]:
        """Every matching entry as a row, by key. Runs in a worker thread."""
        _import_ldap3()
        import ldap3
        from ldap3.core import exceptions as ldap_errors

        step = ctx.step
        tls = None
        if address.use_ssl or options.start_tls:
            ca_file = options.tls_ca_file
            if ca_file and not Path(ca_file).is_absolute():
                ca_file = str(self.env.root / ca_file)
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED if options.tls_verify else ssl.CERT_NONE,
                ca_certs_file=ca_file or None,
            )
        server = ldap3.Server(
            address.host,
            port=address.port,
            use_ssl=address.use_ssl,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=options.connect_timeout_seconds,
        )
        connection = ldap3.Connection(
            server,
            user=options.bind_dn or None,
            password=options.bind_password or None,
            read_only=True,
            raise_exceptions=False,
            auto_referrals=False,
            receive_timeout=max(1, math.ceil(options.receive_timeout_seconds)),  # ldap3 wants whole seconds
        )
        where = address.shown
        try:
            connection.open()
            if options.start_tls and not connection.start_tls():
                raise PermanentStepFailure(
                    f"step '{step}': start_tls: {where} refused StartTLS: {_result(connection)}"
                )
            if not connection.bind():
                code = connection.result.get("result") if connection.result else None
                if code == _INVALID_CREDENTIALS:
                    who = f"as '{options.bind_dn}'" if options.bind_dn else "anonymously"
                    raise PermanentStepFailure(
                        f"step '{step}': bind_password: {where} refused to bind {who}: "
                        "invalid credentials (wrong bind_dn or bind_password)"
                    )
                raise _result_failure(step, "bind_dn", f"{where} refused the bind", connection)
            return self._search(ctx, options, connection, target, converters)
        except ldap_errors.LDAPCommunicationError as exc:
            raise StepFailure(f"step '{step}': server: lost or could not reach {where}: {exc}") from exc
        except ldap_errors.LDAPResponseTimeoutError as exc:
            raise StepFailure(f"step '{step}': server: {where} did not answer in time: {exc}") from exc
        except (ldap_errors.LDAPStartTLSError, ldap_errors.LDAPSSLConfigurationError) as exc:
            raise PermanentStepFailure(f"step '{step}': start_tls: TLS with {where} failed: {exc}") from exc
        except ldap_errors.LDAPInvalidFilterError as exc:
            raise PermanentStepFailure(f"step '{step}': filter: {exc}") from exc
        except ldap_errors.LDAPException as exc:
            raise StepFailure(f"step '{step}': server: {where}: {type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(ldap_errors.LDAPException):
                connection.unbind()

    @staticmethod
    def _search(
        ctx: StepContext,
        options: LdapSyncOptions,
        connection: ldap3.Connection,
        target: Target,
        converters: list[Convert | None],
    ) -> dict[Any, tuple[Any, ...]]:
        import ldap3  # imported by _read_directory, which calls this

        step = ctx.step
        found = mappings(options)
        requested = sorted({m.attribute for m in found if m.attribute.lower() != DN})
        plan = [
            (
                m.attribute.lower() == DN,
                m.attribute.lower(),
                m.attribute,
                m.multi == "join",
                m.separator,
                column,
                convert,
            )
            for m, column, convert in zip(found, target.columns, converters, strict=True)
        ]
        key_index, key_column = target.key_index, target.key.name
        search_filter = render_filter(options.filter, dict(options.filter_values))
        rows: dict[Any, tuple[Any, ...]] = {}
        dns: dict[Any, str] = {}
        cookie: bytes | None = None
        page = 0
        while True:
            if ctx.cancelled:
                raise StepFailure(f"step '{step}': stopped while reading the directory")
            connection.search(
                options.base_dn,
                search_filter,
                search_scope=_SCOPES[options.scope],
                attributes=requested or ldap3.NO_ATTRIBUTES,
                paged_size=options.page_size,
                paged_cookie=cookie,
            )
            code = connection.result.get("result") if connection.result else None
            if code == 32:
                raise PermanentStepFailure(f"step '{step}': base_dn: there is no entry '{options.base_dn}'")
            if code != 0:
                raise _result_failure(step, "filter", "the search failed", connection)
            page += 1
            for entry in connection.response or ():
                if entry.get("type") != "searchResEntry":
                    continue
                dn = entry["dn"]
                # ldap3's case-insensitive dict is slow to query; one plain, lower-cased copy is not.
                raw = {name.lower(): values for name, values in entry["raw_attributes"].items()}
                row = []
                for is_dn, lowered, attribute, join, separator, column, convert in plan:
                    values = [dn] if is_dn else raw.get(lowered)
                    value: Any = None
                    if values:
                        if column.kind is not Kind.BINARY:
                            try:
                                values = [v if isinstance(v, str) else v.decode("utf-8") for v in values]
                            except UnicodeDecodeError:
                                raise PermanentStepFailure(
                                    f"step '{step}': attributes.{attribute}: entry '{dn}' has a binary "
                                    f"value, which text column '{column.name}' cannot take"
                                ) from None
                        value = separator.join(sorted(values)) if join else values[0]
                        if convert is not None:
                            try:
                                value = convert(value)
                            except ValueMismatch as exc:
                                raise PermanentStepFailure(
                                    f"step '{step}': attributes.{attribute}: entry '{dn}' has "
                                    f"{describe_value(value)}, which column '{column.name}' ({column.type}) "
                                    f"cannot take: {exc}"
                                ) from None
                    row.append(value)
                key = row[key_index]
                if key is None:
                    raise PermanentStepFailure(
                        f"step '{step}': key: entry '{dn}' has no value for the key column '{key_column}' "
                        "(narrow the filter to entries that have one)"
                    )
                if key in rows:
                    raise PermanentStepFailure(
                        f"step '{step}': key: entries '{dns[key]}' and '{dn}' have the same key "
                        f"{describe_value(key)} in column '{key_column}'"
                    )
                rows[key] = tuple(row)
                dns[key] = dn
            ctx.log.info(f"page {page}: {len(rows)} entries so far")
            controls = connection.result.get("controls") or {}
            cookie = controls.get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return rows

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


def _result(connection: ldap3.Connection) -> str:
    result = connection.result or {}
    text = result.get("description") or f"result code {result.get('result')}"
    message = result.get("message")
    return f"{text} ({message})" if message else str(text)


def _result_failure(step: str, field: str, what: str, connection: ldap3.Connection) -> StepFailure:
    code = (connection.result or {}).get("result")
    message = f"step '{step}': {field}: {what}: {_result(connection)}"
    if code in _TRANSIENT_RESULTS:
        return StepFailure(message)
    return PermanentStepFailure(message)


def _database_failure(ctx: StepContext, connector: Connector, what: str, error: Exception) -> StepFailure:
    original = getattr(error, "orig", None) or error
    text = connector.scrub(f"{type(original).__name__}: {original}".strip())
    message = f"step '{ctx.step}': connector '{connector.name}': {what} failed: {text}"
    transient = isinstance(
        error, OSError | sa.exc.OperationalError | sa.exc.InterfaceError | TimeoutError
    ) or (isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated)
    return StepFailure(message) if transient else PermanentStepFailure(message)
