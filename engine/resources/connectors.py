"""Connectors: the databases SQL steps talk to, by name, each behind one pool (a SQLAlchemy async engine).

`[connectors.<name>] url = "..."` in app.toml declares one; `default` is the job store's database.
`${env.NAME}` in a URL is replaced from the environment when the configuration loads; the resolved URL
never leaves this module unmasked: messages show it with the password hidden, and `scrub` removes the
secrets from any text (driver errors included) before it is logged or stored.

SQL steps borrow a connection and use its driver (asyncpg, asyncmy, aiosqlite) directly, for COPY and
server-side cursors; other code may use `engine(name)` with SQLAlchemy Core on the same pool.
"""

from __future__ import annotations

import os
import re
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec

from nomaflow.engine.config.model import ConnectorSettings
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.resources.drivers import missing_driver

if TYPE_CHECKING:
    # SQLAlchemy is imported where a URL is parsed or a pool made: loading an app.toml whose store is
    # a plain SQLite file (every CLI command loads it) needs none of it, and its import is a fifth of a
    # second of a reading command (issue 15).
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine

    from nomaflow.engine.steps.base import StepEnvironment

Dialect = Literal["postgresql", "mysql", "sqlite"]

DEFAULT = "default"
_SECRET = re.compile(r"\$\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_ANY_TEMPLATE = re.compile(r"\$\{[^}]*\}")
_MASK = "***"
_USERINFO = re.compile(r"(//[^:/@]*:)[^@/]*@")

_DRIVERS: dict[str, tuple[Dialect, str]] = {
    "postgres": ("postgresql", "postgresql+asyncpg"),
    "postgresql": ("postgresql", "postgresql+asyncpg"),
    "postgresql+asyncpg": ("postgresql", "postgresql+asyncpg"),
    "mysql": ("mysql", "mysql+asyncmy"),
    "mariadb": ("mysql", "mysql+asyncmy"),
    "mysql+asyncmy": ("mysql", "mysql+asyncmy"),
    "mariadb+asyncmy": ("mysql", "mysql+asyncmy"),
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "sqlite+aiosqlite": ("sqlite", "sqlite+aiosqlite"),
}

# How long a SQLite connector waits for another writer's lock before failing (retryable).
SQLITE_BUSY_TIMEOUT_MS = 30_000


class ConnectorError(Exception):
    """A connector that is not declared or cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Connector:
    name: str
    url: URL = field(repr=False)  # resolved: may hold a password
    dialect: Dialect
    settings: ConnectorSettings
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def shown(self) -> str:
        """The URL as messages may show it: password hidden, and any value that came from ${env.*}."""
        return self.scrub(self.url.render_as_string(hide_password=True))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        return text


def _secret_forms(value: str) -> list[str]:
    # A secret may show up raw or URL-quoted (as it sits in the URL); mask both.
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    return [f for f in forms if len(f) >= 3]


def resolve_connector(
    name: str, settings: ConnectorSettings, root: Path, environ: Mapping[str, str] | None = None
) -> Connector:
    """The connector with `${env.NAME}` replaced and its driver chosen; raise ConnectorError."""
    env = os.environ if environ is None else environ
    secrets: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable not in env:
            raise ConnectorError(f"connector '{name}': url uses ${{env.{variable}}}, which is not set")
        secrets.extend(_secret_forms(env[variable]))
        # Inside a URL a value is one component (a password, say): encoded, it may hold any character.
        # A URL that is nothing but one ${env.NAME} is a whole URL, taken as it is.
        whole = _SECRET.fullmatch(settings.url.strip()) is not None
        return env[variable] if whole else urllib.parse.quote(env[variable], safe="")

    text = _SECRET.sub(substitute, settings.url)
    leftover = _ANY_TEMPLATE.search(text)
    if leftover:
        raise ConnectorError(
            f"connector '{name}': url may only use ${{env.NAME}} templates, not '{leftover.group(0)}'"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        shown = _USERINFO.sub(r"\1***@", settings.url)
        raise ConnectorError(
            f"connector '{name}': '{shown}' is not a database URL "
            "(expected e.g. postgresql://user@host/db, mysql://user@host/db or sqlite:///file.db)"
        ) from None
    if url.password:
        secrets.extend(_secret_forms(str(url.password)))
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        known = sorted(k for k in _DRIVERS if "+" not in k)
        raise ConnectorError(
            f"connector '{name}': unsupported database '{url.drivername}'"
            f"{did_you_mean(url.drivername, known)} "
            f"(supported: {', '.join(known)})"
        )
    dialect, drivername = driver
    url = url.set(drivername=drivername)
    missing = missing_driver(drivername.partition("+")[2], f"connector '{name}' ({drivername})")
    if missing is not None:
        raise ConnectorError(missing)
    if dialect == "sqlite":
        if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
            raise ConnectorError(
                f"connector '{name}': a SQLite connector needs a file, not an in-memory database"
            )
        if not Path(url.database).is_absolute():
            url = url.set(database=str((root / url.database).resolve()))
    if dialect == "mysql" and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return Connector(name=name, url=url, dialect=dialect, settings=settings, secrets=tuple(secrets))


@dataclass
class Link:
    """A borrowed connection: its driver's own connection object and the connector it came from."""

    connector: Connector
    driver: Any  # asyncpg.Connection, asyncmy.Connection or aiosqlite.Connection

    @property
    def dialect(self) -> Dialect:
        return self.connector.dialect


class Connectors:
    """The install's connectors, one lazily created pool each. Shared by every step type that needs a
    database (it lives in `StepEnvironment.resources["connectors"]`)."""

    def __init__(
        self,
        declared: Mapping[str, ConnectorSettings],
        *,
        root: Path,
        store_url: str = "",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._root = root
        self._environ = environ
        self._declared = dict(declared)
        if store_url:
            default = self._declared.get(DEFAULT)
            base = default if default is not None else ConnectorSettings(url=store_url)
            self._declared[DEFAULT] = msgspec.structs.replace(base, url=store_url)
        self._resolved: dict[str, Connector | ConnectorError] = {}
        self._engines: dict[str, AsyncEngine] = {}
        self._native_json: weakref.WeakSet[Any] = weakref.WeakSet()

    @classmethod
    def from_settings(
        cls, raw: Any, *, root: Path, store_url: str = "", environ: Mapping[str, str] | None = None
    ) -> Connectors:
        """From app.toml's `[connectors]` table as written (already checked when app.toml loaded)."""
        declared: dict[str, ConnectorSettings] = {}
        if isinstance(raw, Mapping):
            for name, table in raw.items():
                try:
                    declared[name] = msgspec.convert(table, ConnectorSettings)
                except msgspec.ValidationError:
                    continue  # reported by the app.toml checks; such a connector stays unknown here
        return cls(declared, root=root, store_url=store_url, environ=environ)

    @property
    def names(self) -> list[str]:
        return sorted(self._declared)

    def get(self, name: str) -> Connector:
        """The resolved connector; raise ConnectorError if it is not declared or not usable."""
        if name not in self._resolved:
            settings = self._declared.get(name)
            if settings is None:
                declared = ", ".join(self.names) or "none"
                self._resolved[name] = ConnectorError(
                    f"no connector named '{name}'{did_you_mean(name, self.names)} "
                    f"(declared in app.toml [connectors.*]: {declared})"
                )
            else:
                try:
                    self._resolved[name] = resolve_connector(name, settings, self._root, self._environ)
                except ConnectorError as exc:
                    self._resolved[name] = exc
        found = self._resolved[name]
        if isinstance(found, ConnectorError):
            raise ConnectorError(str(found))
        return found

    def problem(self, name: str) -> str | None:
        try:
            self.get(name)
        except ConnectorError as exc:
            return str(exc)
        return None

    def engine(self, name: str) -> AsyncEngine:
        """The connector's pool, created on first use."""
        engine = self._engines.get(name)
        if engine is None:
            engine = self._engines[name] = _create_engine(self.get(name))
        return engine

    @asynccontextmanager
    async def connect(self, name: str) -> AsyncIterator[Link]:
        """Borrow a connection. One that saw an error is discarded, not returned to the pool: it may be
        mid-transaction, mid-COPY or dead."""
        connector = self.get(name)
        async with self.engine(name).connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            try:
                if connector.dialect == "postgresql" and driver not in self._native_json:
                    # SQLAlchemy installs json/jsonb codecs written in Python, a few microseconds a value;
                    # asyncpg's own pass the same JSON text through in C. Once per physical connection.
                    for type_name in ("json", "jsonb"):
                        await driver.reset_type_codec(type_name, schema="pg_catalog")
                    self._native_json.add(driver)
                yield Link(connector, driver)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await connection.invalidate()
                raise

    async def aclose(self) -> None:
        """Close every pool (the engine calls it when it stops; calling it again does nothing)."""
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            await engine.dispose()


def _create_engine(connector: Connector) -> AsyncEngine:
    from sqlalchemy.ext.asyncio import create_async_engine

    s = connector.settings
    options: dict[str, Any] = {
        "pool_size": s.pool_size,
        "max_overflow": s.max_overflow,
        "pool_timeout": s.pool_timeout_seconds,
        "pool_recycle": s.pool_recycle_seconds,
    }
    if connector.dialect == "mysql":
        # Every TIMESTAMP is read and written in UTC, whatever the server's own zone.
        options["connect_args"] = {"init_command": "SET time_zone = '+00:00'"}
        if "local_infile" not in connector.url.query:
            # sql_copy streams rows into LOAD DATA LOCAL INFILE; the sender it installs serves only that
            # stream, never a file (engine/steps/sql/dialects/mysql_infile.py). ?local_infile=0 in the
            # URL turns it off, and copies fall back to INSERTs.
            options["connect_args"]["local_infile"] = True
    if connector.dialect == "postgresql":
        # json/jsonb values travel as their JSON text both ways, as with the other drivers; decoding
        # them here would only be re-encoded by the next COPY.
        options["json_deserializer"] = _json_text
    if connector.dialect != "sqlite":
        options["pool_pre_ping"] = True
    engine = create_async_engine(connector.url, **options)
    if connector.dialect == "sqlite":
        from sqlalchemy import event

        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: Any, record: Any) -> None:
            # The steps begin and end their transactions themselves (BEGIN IMMEDIATE for writers), so
            # DDL and DML share one transaction; the driver's implicit BEGIN would split them.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            finally:
                cursor.close()

    return engine


def _json_text(text: str) -> str:
    return text


def connectors_for(env: StepEnvironment) -> Connectors:
    """The connector registry shared by every step type of an install, created on first use."""
    registry = env.resources.get("connectors")
    if registry is None:
        registry = Connectors.from_settings(
            env.settings.get("connectors"), root=env.root, store_url=env.store_url
        )
        registry = env.resources.setdefault("connectors", registry)
    assert isinstance(registry, Connectors)
    return registry
