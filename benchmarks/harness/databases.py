"""Throwaway databases for the benchmarks, made the way tests/conftest.py makes the tests' own: each
named `nomaflow_bench_<purpose>_<random>` so that benchmarks and test sessions running side by side
never meet, each marked with the process that made it, and all dropped when the benchmark ends. A
benchmark that was killed leaves its databases behind; the next one to use that server drops them.

PostgreSQL comes from NOMAFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and
MariaDB from NOMAFLOW_BENCH_MARIADB_URL (default mysql://root@127.0.0.1:3306/test); those databases are
used only to create and drop the benchmark's own. SQLite databases are files in a folder the benchmark
gives.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import asyncpg
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from asyncmy.cursors import Cursor

PG_ADMIN_URL = os.environ.get("NOMAFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("NOMAFLOW_BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
PREFIX = "nomaflow_bench_"
_MADE_BY = re.compile(r"^nomaflow benchmark database of pid (\d+) on (\S+)$")


def _made_by() -> str:
    return f"nomaflow benchmark database of pid {os.getpid()} on {socket.gethostname()}"


def _abandoned(made_by: str | None) -> bool:
    """Whether a database's mark names a process of this host that is gone."""
    match = _MADE_BY.match(made_by or "")
    if not match or match[2] != socket.gethostname():
        return False
    try:
        os.kill(int(match[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def url_of(admin_url: str, database: str) -> str:
    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def mysql_arguments(url: str) -> dict[str, Any]:
    """asyncmy.connect's arguments for a mysql:// or mariadb:// URL."""
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
    }


class ThrowawayDatabases:
    """The databases one benchmark run makes, dropped on leaving (`async with`) or by `drop_all()`."""

    def __init__(self, purpose: str, folder: Path | None = None) -> None:
        self.purpose = purpose
        self.folder = folder
        self._postgresql: list[str] = []
        self._mariadb: list[str] = []
        self._swept: set[str] = set()

    def _new_name(self) -> str:
        return f"{PREFIX}{self.purpose}_{secrets.token_hex(4)}"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.drop_all()

    async def postgresql(self) -> str:
        """A new, empty PostgreSQL database; its URL."""
        name = self._new_name()
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            if "postgresql" not in self._swept:
                await self._sweep_postgresql(connection)
            await connection.execute(f'CREATE DATABASE "{name}"')
            await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_made_by()}'")
        finally:
            await connection.close()
        self._postgresql.append(name)
        return url_of(PG_ADMIN_URL, name)

    async def _sweep_postgresql(self, connection: asyncpg.Connection) -> None:
        self._swept.add("postgresql")
        rows = await connection.fetch(
            "SELECT datname, shobj_description(oid, 'pg_database') AS made_by FROM pg_database "
            "WHERE starts_with(datname, $1)",
            PREFIX,
        )
        for row in rows:
            if _abandoned(row["made_by"]):
                with contextlib.suppress(asyncpg.PostgresError):
                    await connection.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')

    async def postgresql_version(self) -> str:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            return str(await connection.fetchval("SHOW server_version")).split()[0]
        finally:
            await connection.close()

    async def mariadb(self) -> str:
        """A new, empty MariaDB database (utf8mb4); its URL."""
        import asyncmy  # the mysql extra: only the benchmarks that use MariaDB need it

        name = self._new_name()
        connection = await asyncmy.connect(**mysql_arguments(MARIADB_ADMIN_URL), autocommit=True)
        try:
            async with connection.cursor() as cursor:
                if "mariadb" not in self._swept:
                    await self._sweep_mariadb(cursor)
                await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COMMENT '{_made_by()}'")
        finally:
            connection.close()
        self._mariadb.append(name)
        return url_of(MARIADB_ADMIN_URL, name)

    async def _sweep_mariadb(self, cursor: Cursor) -> None:
        self._swept.add("mariadb")
        await cursor.execute(
            "SELECT SCHEMA_NAME, SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (PREFIX.replace("_", "\\_") + "%",),
        )
        for name, made_by in await cursor.fetchall():
            if _abandoned(made_by):
                await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def sqlite(self, name: str) -> str:
        """The URL of a SQLite file `name`.db in the benchmark's folder (made on first use)."""
        if self.folder is None:
            raise ValueError(
                "SQLite databases need the folder they are kept in: ThrowawayDatabases(folder=...)"
            )
        return f"sqlite+aiosqlite:///{self.folder / f'{name}.db'}"

    async def drop_all(self) -> None:
        """Drop every database this run made (SQLite files go with their folder)."""
        if self._postgresql:
            connection = await asyncpg.connect(PG_ADMIN_URL)
            try:
                while self._postgresql:
                    await connection.execute(
                        f'DROP DATABASE IF EXISTS "{self._postgresql.pop()}" WITH (FORCE)'
                    )
            finally:
                await connection.close()
        if self._mariadb:
            import asyncmy

            maria = await asyncmy.connect(**mysql_arguments(MARIADB_ADMIN_URL), autocommit=True)
            try:
                async with maria.cursor() as cursor:
                    while self._mariadb:
                        await cursor.execute(f"DROP DATABASE IF EXISTS `{self._mariadb.pop()}`")
            finally:
                maria.close()
