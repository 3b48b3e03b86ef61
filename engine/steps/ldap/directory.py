"""Reading the directory for an ldap_sync step, in a worker thread (ldap3 is synchronous): connect (TLS
as asked), bind, search page by page, and make every entry a row of the table's column types, by key."""

from __future__ import annotations

import contextlib
import math
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.steps.ldap.options import (
    LdapSyncOptions,
    ServerAddress,
    import_ldap3,
    mappings,
    render_filter,
)
from nomaflow.engine.steps.ldap.table import Convert, Target, TargetColumn
from nomaflow.engine.steps.sql.types import Kind, ValueMismatch, describe_value

if TYPE_CHECKING:
    import ldap3

DN = "dn"  # the pseudo-attribute naming the entry's distinguished name
_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_SCOPES: dict[str, Literal["BASE", "LEVEL", "SUBTREE"]] = {
    "base": "BASE",
    "one": "LEVEL",
    "subtree": "SUBTREE",
}
# Result codes worth another attempt: the server is busy, unavailable or ran out of time.
_TRANSIENT_RESULTS = {3: "timeLimitExceeded", 51: "busy", 52: "unavailable", 80: "other"}
_INVALID_CREDENTIALS = 49
_NO_SUCH_OBJECT = 32

Rows = dict[Any, tuple[Any, ...]]
# How one mapped attribute becomes one value of a row: (is the dn, attribute lower-cased, attribute as
# written, join the values, separator, column, converter). A tuple, unpacked in the loop over entries:
# that loop runs once per entry and attribute, and a tuple is the cheapest to read there.
_Field = tuple[bool, str, str, bool, str, TargetColumn, Convert | None]


def read_directory(
    ctx: StepContext,
    options: LdapSyncOptions,
    address: ServerAddress,
    target: Target,
    converters: list[Convert | None],
    root: Path,
) -> Rows:
    """Every matching entry as a row, by key. Runs in a worker thread."""
    import_ldap3()
    import ldap3
    from ldap3.core import exceptions as ldap_errors

    step = ctx.step
    connection = _connection(options, address, root)
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
        return _search(ctx, options, connection, target, converters, ldap3.NO_ATTRIBUTES)
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


def _connection(options: LdapSyncOptions, address: ServerAddress, root: Path) -> ldap3.Connection:
    import ldap3  # imported by read_directory, which calls this

    tls = None
    if address.use_ssl or options.start_tls:
        ca_file = options.tls_ca_file
        if ca_file and not Path(ca_file).is_absolute():
            ca_file = str(root / ca_file)
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
    return ldap3.Connection(
        server,
        user=options.bind_dn or None,
        password=options.bind_password or None,
        read_only=True,
        raise_exceptions=False,
        auto_referrals=False,
        receive_timeout=max(1, math.ceil(options.receive_timeout_seconds)),  # ldap3 wants whole seconds
    )


def _search(
    ctx: StepContext,
    options: LdapSyncOptions,
    connection: ldap3.Connection,
    target: Target,
    converters: list[Convert | None],
    no_attributes: str,
) -> Rows:
    step = ctx.step
    found = mappings(options)
    requested = sorted({m.attribute for m in found if m.attribute.lower() != DN})
    fields: list[_Field] = [
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
    rows: Rows = {}
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
            attributes=requested or no_attributes,
            paged_size=options.page_size,
            paged_cookie=cookie,
        )
        code = connection.result.get("result") if connection.result else None
        if code == _NO_SUCH_OBJECT:
            raise PermanentStepFailure(f"step '{step}': base_dn: there is no entry '{options.base_dn}'")
        if code != 0:
            raise _result_failure(step, "filter", "the search failed", connection)
        page += 1
        for entry in connection.response or ():
            if entry.get("type") != "searchResEntry":
                continue
            dn = entry["dn"]
            row = _entry_row(step, dn, entry["raw_attributes"], fields)
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
            rows[key] = row
            dns[key] = dn
        ctx.log.info(f"page {page}: {len(rows)} entries so far")
        controls = connection.result.get("controls") or {}
        cookie = controls.get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
        if not cookie:
            return rows


def _entry_row(step: str, dn: str, attributes: dict[str, Any], fields: list[_Field]) -> tuple[Any, ...]:
    """One entry's values, in the table's types, in the order of `fields`."""
    # ldap3's case-insensitive dict is slow to query; one plain, lower-cased copy is not.
    raw = {name.lower(): values for name, values in attributes.items()}
    row = []
    for is_dn, lowered, attribute, join, separator, column, convert in fields:
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
    return tuple(row)


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
