"""Migrations build exactly the schema of engine/store/tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.engine import Connection

from nomaflow.engine.store import create_engine, current_revision, head_revision, upgrade
from nomaflow.engine.store.migrate import HEAD, VERSION_TABLE, include_object
from nomaflow.engine.store.tables import metadata

pytestmark = pytest.mark.anyio


def differences(connection: Connection, target: MetaData = metadata) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True}
    )
    return list(compare_metadata(context, target))


async def diff_against(url: str, target: MetaData = metadata) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(differences, target)
    finally:
        await engine.dispose()


async def test_migrations_build_exactly_the_models(empty_database_url: str) -> None:
    assert await current_revision(empty_database_url) is None

    await upgrade(empty_database_url)

    assert await diff_against(empty_database_url) == []
    # HEAD, what a start compares the store's revision with before loading Alembic, is Alembic's head.
    assert await current_revision(empty_database_url) == head_revision() == HEAD == "0003"


async def test_the_comparison_would_notice_a_drift(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    drifted = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["ly2_job_runs"].append_column(Column("priority", Integer()))
    Table("ly2_job_tags", drifted, Column("name", String(64), primary_key=True))

    kinds = {diff[0] for diff in await diff_against(empty_database_url, drifted)}

    assert kinds == {"add_column", "add_table"}


async def test_upgrading_again_changes_nothing(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await upgrade(empty_database_url)
    assert await diff_against(empty_database_url) == []


async def test_engines_starting_together_migrate_once(empty_database_url: str) -> None:
    engines = [create_engine(empty_database_url) for _ in range(3)]
    try:
        async with anyio.create_task_group() as group:
            for engine in engines:
                group.start_soon(upgrade, engine)
    finally:
        for engine in engines:
            await engine.dispose()
    assert await diff_against(empty_database_url) == []


async def test_the_host_apps_own_tables_and_alembic_history_are_left_alone(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            await connection.execute(text("INSERT INTO alembic_version VALUES ('host_app_rev_42')"))
            await connection.execute(text("CREATE TABLE app_users (id INTEGER PRIMARY KEY)"))

        await upgrade(engine)

        async with engine.connect() as connection:
            host_revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
    assert host_revision == "host_app_rev_42"
    assert {"app_users", VERSION_TABLE, "ly2_job_runs", "ly2_jobs_lock"} <= tables
