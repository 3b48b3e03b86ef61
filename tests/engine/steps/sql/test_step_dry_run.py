"""A step's own `dry_run` through the Engine, on PostgreSQL, MariaDB and SQLite: the sql_query write is
rolled back and reports the rows it would have touched, the sql_copy only counts its source, the steps
around them run for real, and the run's history says which steps ran dry."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from nomaflow.engine import Engine
from tests.engine.steps.conftest import PgPair

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

QUERIES = """\
-- name: make
CREATE TABLE {table} (id integer PRIMARY KEY, stale integer)

-- name: seed
INSERT INTO {table} (id, stale) VALUES (1, 1), (2, 1), (3, 0)

-- name: purge
DELETE FROM {table} WHERE stale = 1

-- name: left
SELECT count(*) AS n FROM {table}

-- name: everything
SELECT id, stale FROM {table}
"""

JOBS = """\
[[jobs]]
name = "seed"

[[jobs.steps]]
name = "make"
type = "sql_query"
connector = "db"
query = "make:write"

[[jobs.steps]]
name = "seed"
type = "sql_query"
connector = "db"
query = "seed:write"

[[jobs]]
name = "tidy"

[[jobs.steps]]
name = "purge"
type = "sql_query"
connector = "db"
query = "purge:write"
dry_run = true

[[jobs.steps]]
name = "left"
type = "sql_query"
connector = "db"
query = "left:read"

[[jobs.steps]]
name = "export"
type = "sql_copy"
source = "db"
query = "everything"
target = "archive"
table = "{table}_copy"
create = true
dry_run = true
"""


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def database(request: pytest.FixtureRequest, pg_pair: PgPair, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return pg_pair.target
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return f"sqlite:///{tmp_path / 'data.db'}"


def write_install(root: Path, url: str, table: str) -> Path:
    (root / "app.toml").write_text(
        f'[connectors.db]\nurl = "{url}"\n\n[connectors.archive]\nurl = "sqlite:///{root / "archive.db"}"\n\n'
        "[jobs]\nscheduler_enabled = false\n",
        encoding="utf-8",
    )
    app = root / "plugins" / "ops"
    (app / "queries").mkdir(parents=True)
    (app / "queries" / "tidy.sql").write_text(QUERIES.format(table=table), encoding="utf-8")
    (app / "jobs.toml").write_text(JOBS.format(table=table), encoding="utf-8")
    return root / "app.toml"


def async_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    driver = {"postgresql": "postgresql+asyncpg", "mysql": "mysql+asyncmy", "sqlite": "sqlite+aiosqlite"}
    return f"{driver[scheme]}://{rest}"


async def rows_of(url: str, table: str) -> list[tuple[int, int]]:
    database = create_async_engine(async_url(url))
    try:
        async with database.connect() as connection:
            result = await connection.execute(text(f"SELECT id, stale FROM {table} ORDER BY id"))
            return [(int(id), int(stale)) for id, stale in result]
    finally:
        await database.dispose()


async def tables_of(url: str) -> list[str]:
    database = create_async_engine(async_url(url))
    try:
        async with database.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await database.dispose()


async def test_dry_steps_change_nothing_and_report_counts(database: str, tmp_path: Path) -> None:
    table = f"tidy_{secrets.token_hex(3)}"
    app_toml = write_install(tmp_path, database, table)
    archive = f"sqlite:///{tmp_path / 'archive.db'}"
    async with Engine.from_path(app_toml, scheduler=False) as engine:  # the job store: a SQLite file
        assert (await (await engine.trigger("seed")).wait()).succeeded
        seeded = await rows_of(database, table)
        assert seeded == [(1, 1), (2, 1), (3, 0)]

        run = await engine.trigger("tidy")
        outcome = await run.wait()
        assert outcome.succeeded, outcome
        purge, left, export = (outcome.step(name) for name in ("purge", "left", "export"))
        assert purge.output == {"rows_affected": 2, "dry_run": True, "committed": False}
        # The step after the dry one sees the table as it was: nothing was deleted.
        assert left.output["first_rows"] == [{"n": 3}] and left.dry_run is False
        assert export.output == {
            "dry_run": True,
            "source_rows": 3,
            "mode": "replace",
            "table": f"{table}_copy",
        }
        assert [purge.dry_run, export.dry_run] == [True, True]
        stored = {step.step_name: step.dry_run for step in await engine.store.get_steps(run.run_id)}
        assert stored == {"purge": True, "left": False, "export": True}

        # The run-wide switch turns every step dry, the reading one included.
        rehearsal = await engine.trigger("tidy", dry_run=True)
        assert (await rehearsal.wait()).succeeded
        stored = {step.step_name: step.dry_run for step in await engine.store.get_steps(rehearsal.run_id)}
        assert stored == {"purge": True, "left": True, "export": True}
    assert await rows_of(database, table) == seeded
    assert f"{table}_copy" not in await tables_of(archive)
