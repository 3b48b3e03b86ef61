"""Opening the store's database: URL forms, and SQLite set up for several processes on one file."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from nomaflow.engine import Engine
from nomaflow.engine.cli.preflight import store_problem
from nomaflow.engine.store import StoreUnusable, create_engine, normalise_url
from nomaflow.engine.store.database import for_reading
from tests.engine.conftest import make_install

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/nomaflow.db", "sqlite+aiosqlite:///data/nomaflow.db"),
        ("sqlite+aiosqlite:////abs/nomaflow.db", "sqlite+aiosqlite:////abs/nomaflow.db"),
        ("postgresql://jobs:secret@db:5432/app", "postgresql+asyncpg://jobs:secret@db:5432/app"),
        ("postgres://db/app", "postgresql+asyncpg://db/app"),
        ("postgresql+psycopg2://db/app", "postgresql+asyncpg://db/app"),
        ("postgresql+asyncpg://db/app?ssl=require", "postgresql+asyncpg://db/app?ssl=require"),
    ],
)
def test_urls_are_normalised_to_their_async_drivers(given: str, expected: str) -> None:
    assert normalise_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_store_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        normalise_url(url)


def test_other_databases_are_refused_with_the_supported_forms() -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://"):
        normalise_url("mysql://root:pw@localhost/test")


async def test_sqlite_connections_are_set_up_for_several_processes(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: await connection.scalar(text(f"PRAGMA {name}"))
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30_000, "foreign_keys": 1}


async def test_sqlite_writers_take_the_write_lock_at_begin_and_readers_do_not(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = create_engine(f"sqlite:///{path}")
    other_process = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        async with engine.begin():
            # BEGIN IMMEDIATE holds the write lock before any statement: another writer is told at
            # once (here, with no busy timeout) instead of both discovering it at their first write.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other_process.execute("BEGIN IMMEDIATE")
        async with for_reading(engine).begin():
            other_process.execute("BEGIN IMMEDIATE")
            other_process.execute("ROLLBACK")
    finally:
        other_process.close()
        await engine.dispose()


async def test_sqlite_ddl_is_transactional(tmp_path: Path) -> None:
    # The migrations rely on it: a failed upgrade must leave no half-made schema behind.
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE t (x INTEGER)"))
                raise RuntimeError("migration failed halfway")
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 't'")) == 0
    finally:
        await engine.dispose()


def test_a_postgresql_store_without_asyncpg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # `import asyncpg` now fails, as when not installed
    with pytest.raises(StoreUnusable) as refused:
        create_engine("postgresql://jobs:secret@db/app")
    assert str(refused.value) == (
        "the job store at postgresql+asyncpg://jobs:***@db/app needs the asyncpg driver: "
        "pip install 'nomaflow[postgres]'"
    )


async def test_an_engine_on_postgresql_without_asyncpg_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install = make_install(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    engine = Engine(install, database_url="postgresql://db/app", scheduler=False)
    with pytest.raises(StoreUnusable, match=r"needs the asyncpg driver: pip install 'nomaflow\[postgres\]'"):
        async with engine:
            pass
    assert await store_problem("postgres://db/app") == (
        "the job store at postgresql+asyncpg://db/app needs the asyncpg driver: "
        "pip install 'nomaflow[postgres]'"
    )
