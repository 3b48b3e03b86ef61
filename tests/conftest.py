"""Shared fixtures: the anyio backend and the job store databases (a SQLite file, and a PostgreSQL
database created for this test session), so the same contract tests run against both.

PostgreSQL comes from NOMAFLOW_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test), used only
to create and drop this session's own database. If it is unreachable, its tests are skipped, except
under CI (CI=true), where they fail: CI must never pass by testing less.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from nomaflow.engine.store import SqlStore, create_engine, upgrade
from nomaflow.engine.store.tables import metadata

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return os.environ.get("NOMAFLOW_TEST_PG_URL", DEFAULT_PG_URL)


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PgServer:
    """Creates and drops throwaway databases, named so that parallel test sessions never collide.

    Each database's comment names the process that made it, so a later session can drop those whose
    process died without cleaning up (killed, timed out) and leave every other session's alone.
    """

    PREFIX = "nomaflow_t_"
    _MADE_BY = re.compile(r"^nomaflow test database of pid (\d+) on (\S+)$")

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url_of(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    async def create_database(self) -> str:
        name = f"{self.PREFIX}{secrets.token_hex(6)}"
        made_by = f"nomaflow test database of pid {os.getpid()} on {socket.gethostname()}"
        connection = await asyncpg.connect(self.admin_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
            await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{made_by}'")
        finally:
            await connection.close()
        return self.url_of(name)

    async def drop_database(self, url: str) -> None:
        name = make_url(url).database
        connection = await asyncpg.connect(self.admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    async def drop_abandoned(self) -> None:
        """Drop the test databases of this host's sessions that died before dropping their own."""
        connection = await asyncpg.connect(self.admin_url)
        try:
            rows = await connection.fetch(
                "SELECT datname, shobj_description(oid, 'pg_database') AS made_by FROM pg_database "
                "WHERE starts_with(datname, $1)",
                self.PREFIX,
            )
            for row in rows:
                match = self._MADE_BY.match(row["made_by"] or "")
                if match and match[2] == socket.gethostname() and not _alive(int(match[1])):
                    with contextlib.suppress(asyncpg.PostgresError):
                        await connection.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture(scope="session")
async def pg_server(pg_admin_url: str) -> PgServer:
    try:
        connection = await asyncpg.connect(pg_admin_url, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = make_url(pg_admin_url).render_as_string(hide_password=True)
        reason = f"PostgreSQL is not reachable at {where} (set NOMAFLOW_TEST_PG_URL): {exc}"
        if _under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    await connection.close()
    server = PgServer(pg_admin_url)
    await server.drop_abandoned()
    return server


@pytest.fixture(scope="session")
async def pg_session_url(pg_server: PgServer) -> AsyncIterator[str]:
    """This session's migrated PostgreSQL database, dropped at the end."""
    url = await pg_server.create_database()
    try:
        await upgrade(url)
        yield url
    finally:
        await pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def pg(database_kind: str, request: pytest.FixtureRequest) -> PgServer | None:
    """The PostgreSQL server for a postgresql-parametrized test; None for SQLite. Asked for lazily, so
    SQLite tests neither need nor wait for PostgreSQL."""
    if database_kind != "postgresql":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server


@pytest.fixture
def pg_migrated(database_kind: str, request: pytest.FixtureRequest) -> str | None:
    if database_kind != "postgresql":
        return None
    url: str = request.getfixturevalue("pg_session_url")
    return url


@pytest.fixture
async def empty_database_url(pg: PgServer | None, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all (for migration tests): a new SQLite file, or a new PostgreSQL
    database dropped after the test."""
    if pg is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = await pg.create_database()
    try:
        yield url
    finally:
        await pg.drop_database(url)


@pytest.fixture
async def database_url(pg_migrated: str | None, tmp_path: Path) -> str:
    """A migrated job store holding no rows: a new SQLite file, or this session's PostgreSQL database
    with every ly2_ table emptied."""
    if pg_migrated is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}"
        await upgrade(url)
        return url
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    connection = await asyncpg.connect(pg_migrated)
    try:
        await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()
    return pg_migrated


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """A running SqlStore on `database_url`, on its own engine."""
    engine = create_engine(database_url)
    try:
        async with SqlStore(engine) as running:
            yield running
    finally:
        await engine.dispose()


class SmallDisk:
    """A small tmpfs of our own, to fill up: a disk that really is full, then really has room again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        """Write until the file system says there is no space left (ENOSPC)."""
        descriptor = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(descriptor, b"\0" * 65536)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(descriptor)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def read_only(self, read_only: bool = True) -> None:
        """Remount the disk read-only (or writable again), as a failing disk or an operator does."""
        import subprocess

        mode = "ro" if read_only else "rw"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 4 MiB tmpfs mounted for this test (needs root, as the tests run here); unmounted after."""
    import subprocess

    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if made.returncode != 0:
        reason = f"cannot mount a tmpfs for the disk-full test (needs root): {made.stderr.strip()}"
        if _under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
