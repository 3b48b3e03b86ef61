"""An ldap_sync step's options as written in jobs.toml, and what they mean: the server's address, the
attribute-to-column mappings, and the filter with its `{placeholders}` (values escaped, RFC 4515)."""

from __future__ import annotations

import re
import sys
import urllib.parse
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def import_ldap3() -> None:
    """Import ldap3 (the `ldap` extra) where a step first needs it, not when Nomaflow loads."""
    if "ldap3.utils.conv" in sys.modules:
        return
    with warnings.catch_warnings():
        # ldap3 2.9 imports names that pyasn1 0.6 renamed (tagMap -> TAG_MAP); pyasn1 warns once, at import.
        warnings.filterwarnings("ignore", r".* is deprecated\. Please use .* instead", DeprecationWarning)
        import ldap3.core.exceptions
        import ldap3.operation.search
        import ldap3.utils.conv  # noqa: F401


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


def mapping_problems(options: LdapSyncOptions) -> list[tuple[str, str]]:
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


def render_filter(template: str, values: dict[str, Any]) -> str:
    """`template` with each {name} replaced by its value, escaped; {{ and }} are literal braces."""

    import_ldap3()
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
        import_ldap3()
        from ldap3.core import exceptions as ldap_errors
        from ldap3.operation.search import parse_filter

        try:
            parse_filter(render_filter(template, dict.fromkeys(used, "x")), None, True, True, None, False)  # type: ignore[no-untyped-call]
        except ldap_errors.LDAPInvalidFilterError as exc:
            problems.append(("filter", f"'{template}' is not a valid LDAP filter: {exc}"))
    return problems
