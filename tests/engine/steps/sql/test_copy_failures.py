"""sql_copy is all-or-nothing: a copy that fails half-way (a bad row, a killed source connection) leaves
the target exactly as it was and no staging table behind, and readers of a table being replaced never
see it empty or missing."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import asyncmy
import asyncpg
import pytest
from sqlalchemy.engine import make_url

import nomaflow.engine.steps.sql.copy_pipeline as copy_pipeline
from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from tests.engine.steps.conftest import Logged, PgPair, SqlInstall

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

TARGETS = ["postgresql", "mariadb", "sqlite"]


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"


class Target:
    """One target database of a test: run SQL on it and look at its tables, whatever its kind."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url

    async def execute(self, sql: str) -> None:
        await self.fetch(sql)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.kind == "postgresql":
            connection = await asyncpg.connect(self.url)
            try:
                if sql.lstrip().upper().startswith("SELECT"):
                    return [tuple(r) for r in await connection.fetch(sql)]
                await connection.execute(sql)
                return []
            finally:
                await connection.close()
        if self.kind == "mariadb":
            parsed = make_url(self.url)
            connection = await asyncmy.connect(
                host=parsed.host,
                port=parsed.port or 3306,
                user=parsed.username,
                password=parsed.password or "",
                database=parsed.database,
                autocommit=True,
            )
            try:
                async with connection.cursor() as cursor:
                    for statement in sql.split(";"):
                        if statement.strip():
                            await cursor.execute(statement)
                    return [tuple(r) for r in await cursor.fetchall()] if cursor.description else []
            finally:
                connection.close()
        path = make_url(self.url).database
        assert path is not None
        with sqlite3.connect(path, timeout=30) as connection:
            rows = (
                [tuple(r) for r in connection.executescript(sql).fetchall()]
                if ";" in sql.strip()[:-1]
                else [tuple(r) for r in connection.execute(sql).fetchall()]
            )
        return rows

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.kind == "mariadb" else f'"{name}"'

    async def rows(self, table: str) -> list[tuple[Any, ...]]:
        return await self.fetch(f"SELECT * FROM {self.quote(table)} ORDER BY 1")

    async def side_tables(self) -> list[str]:
        """Tables a copy makes beside its target (staging, old, probe): none may outlive it."""
        if self.kind == "postgresql":
            rows = await self.fetch("SELECT relname FROM pg_class WHERE relname LIKE '%\\_\\_nf\\_%'")
        elif self.kind == "mariadb":
            rows = await self.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name LIKE '%\\_\\_nf\\_%'"
            )
        else:
            rows = await self.fetch(
                "SELECT name FROM sqlite_master WHERE name LIKE '%\\_\\_nf\\_%' ESCAPE '\\'"
            )
        return [r[0] for r in rows]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, pg_pair: PgPair, tmp_path: Path) -> Target:
    kind: str = request.param
    if kind == "postgresql":
        return Target(kind, pg_pair.target)
    if kind == "mariadb":
        return Target(kind, request.getfixturevalue("mariadb_url"))
    return Target(kind, f"sqlite:///{tmp_path / 'target.db'}")


async def pg_source(pg_pair: PgPair, sql: str) -> None:
    connection = await asyncpg.connect(pg_pair.source)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def make_target_table(target: Target, table: str) -> list[tuple[Any, ...]]:
    """The target table as it is before the copy: five rows of its own (keys the source does not use)."""
    key = "bigint PRIMARY KEY"
    await target.execute(f"CREATE TABLE {target.quote(table)} (id {key}, v bigint)")
    await target.execute(
        f"INSERT INTO {target.quote(table)} (id, v) VALUES (-1, 10), (-2, 20), (-3, 30), (-4, 40), (-5, 50)"
    )
    return await target.rows(table)


async def copy_while(
    sql_install: SqlInstall, beside: Callable[[], Coroutine[Any, Any, None]], *, within: float, **step: Any
) -> list[StepFailure]:
    """Run a sql_copy step (batches of 500, progress every 1,000 rows) with `beside` running next to it,
    which waits for its own moment (to kill the source, say); the failures the step ended with."""
    errors: list[StepFailure] = []

    async def copy() -> None:
        try:
            await sql_install.run("sql_copy", step="load", batch_size=500, progress_every=1000, **step)
        except StepFailure as exc:
            errors.append(exc)

    with anyio.fail_after(within):
        async with anyio.create_task_group() as group:
            group.start_soon(copy)
            group.start_soon(beside)
    return errors


@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
async def test_a_bad_row_half_way_leaves_the_target_as_it_was(
    pg_pair: PgPair, target: Target, sql_install: SqlInstall, mode: str
) -> None:
    source, table = unique("bad_src"), unique("kept")
    await pg_source(
        pg_pair,
        f"CREATE TABLE {source} AS SELECT g::bigint AS id, "
        f"CASE WHEN g = 2000 THEN 'twelve' ELSE g::text END AS v FROM generate_series(1, 3000) g",
    )
    before = await make_target_table(target, table)
    sql_install.connector("src", pg_pair.source).connector("dst", target.url)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy",
            step="load",
            source="src",
            source_table=source,
            target="dst",
            table=table,
            mode=mode,
            key=["id"] if mode == "upsert" else [],
            batch_size=500,
        )
    message = str(caught.value)
    assert "step 'load'" in message and "row 2000" in message and "column 'v'" in message
    assert "'twelve'" in message and "expected a whole number" in message
    assert await target.rows(table) == before
    assert await target.side_tables() == []


async def test_a_row_the_target_rejects_during_pass_through_leaves_it_as_it_was(
    pg_pair: PgPair, sql_install: SqlInstall
) -> None:
    source, table = unique("checked_src"), unique("checked")
    await pg_source(
        pg_pair,
        f"CREATE TABLE {source} AS SELECT g::bigint AS id, g::bigint AS v FROM generate_series(1, 3000) g",
    )
    target = Target("postgresql", pg_pair.target)
    await target.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v bigint CHECK (v < 2500))")
    await target.execute(f"INSERT INTO {table} VALUES (1, 1)")
    sql_install.connector("src", pg_pair.source).connector("dst", pg_pair.target)
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_copy", step="load", source="src", source_table=source, target="dst", table=table
        )
    assert "step 'load'" in str(caught.value) and "check constraint" in str(caught.value)
    assert await target.rows(table) == [(1, 1)]
    assert await target.side_tables() == []


async def test_a_killed_source_connection_leaves_the_target_as_it_was(
    pg_pair: PgPair, target: Target, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kill_source_half_way(pg_pair, target, sql_install, monkeypatch)


async def test_a_killed_source_connection_during_pass_through_leaves_the_target_as_it_was(
    pg_pair: PgPair, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = await kill_source_half_way(
        pg_pair, Target("postgresql", pg_pair.target), sql_install, monkeypatch
    )
    assert "MiB of COPY data passed through" in output.text  # the pass-through path was the one killed


async def kill_source_half_way(
    pg_pair: PgPair, target: Target, sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> Logged:
    table = unique("victim")
    before = await make_target_table(target, table)
    # The source stalls after 5,000 rows (as a slow server would); the first progress line, which comes
    # well before that, is the signal to kill its connection.
    sql_install.queries(
        "app",
        "slow.sql",
        "-- name: slow-rows\n"
        "SELECT g::bigint AS id, g::bigint AS v FROM generate_series(1, 100000) g\n"
        "WHERE g < 5000 OR pg_sleep(20) IS NOT NULL\n",
    )
    monkeypatch.setattr(copy_pipeline, "PASSTHROUGH_PROGRESS_BYTES", 16 * 1024)
    sql_install.connector("src", pg_pair.source).connector("dst", target.url)
    progressed = anyio.Event()
    log = Logged(on_line=lambda level, message, fields: progressed.set())

    async def kill_source() -> None:
        await progressed.wait()
        admin = await asyncpg.connect(pg_pair.source)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()

    errors = await copy_while(
        sql_install,
        kill_source,
        within=60,
        source="src",
        query="slow-rows",
        target="dst",
        table=table,
        log=log,
    )
    assert len(errors) == 1
    assert not isinstance(errors[0], PermanentStepFailure), "a lost connection is worth another attempt"
    assert "step 'load'" in str(errors[0])
    assert any(word in str(errors[0]).lower() for word in ("terminat", "connection", "closed")), str(
        errors[0]
    )
    assert await target.rows(table) == before
    assert await target.side_tables() == []
    return log


async def test_readers_never_see_the_replaced_table_empty_or_missing(
    pg_pair: PgPair, target: Target, sql_install: SqlInstall
) -> None:
    # The v column is text in the source and bigint in the target: converted row by row, so the copy
    # takes long enough for many reads.
    await read_while_replacing(pg_pair, target, sql_install, "text")


async def test_readers_never_see_a_mariadb_table_the_text_relay_replaces_empty_or_missing(
    pg_pair: PgPair, mariadb_url: str, sql_install: SqlInstall
) -> None:
    output = await read_while_replacing(pg_pair, Target("mariadb", mariadb_url), sql_install, "bigint")
    assert output["text_relay"] is True


async def read_while_replacing(pg_pair: PgPair, target: Target, sql_install: SqlInstall, v_type: str) -> Any:
    """Replace a target table of 5 rows by 30,000 while a reader counts them again and again; the copy's
    output."""
    source, table = unique("big_src"), unique("read_while_replaced")
    await pg_source(
        pg_pair,
        f"CREATE TABLE {source} AS SELECT g::bigint AS id, g::{v_type} AS v FROM generate_series(1, 30000) g",
    )
    await make_target_table(target, table)
    sql_install.connector("src", pg_pair.source).connector("dst", target.url)
    counts: list[int] = []
    done = anyio.Event()
    reader_ready = anyio.Event()

    async def read_forever(count: Callable[[], Any]) -> None:
        while not done.is_set():
            counts.append(await count())
            reader_ready.set()

    async def reader() -> None:
        sql = f"SELECT count(*) FROM {target.quote(table)}"
        if target.kind == "postgresql":
            connection = await asyncpg.connect(target.url)
            try:
                await read_forever(lambda: connection.fetchval(sql))
            finally:
                await connection.close()
        elif target.kind == "mariadb":
            parsed = make_url(target.url)
            connection = await asyncmy.connect(
                host=parsed.host,
                port=parsed.port or 3306,
                user=parsed.username,
                password=parsed.password or "",
                database=parsed.database,
                autocommit=True,
            )

            async def count() -> int:
                async with connection.cursor() as cursor:
                    await cursor.execute(sql)
                    return int((await cursor.fetchone())[0])

            try:
                await read_forever(count)
            finally:
                connection.close()
        else:
            path = make_url(target.url).database
            assert path is not None
            with sqlite3.connect(path, timeout=30, check_same_thread=False) as connection:
                await read_forever(
                    lambda: anyio.to_thread.run_sync(lambda: connection.execute(sql).fetchone()[0])
                )

    outputs = []

    async def replace() -> None:
        await reader_ready.wait()
        try:
            outputs.append(
                await sql_install.run(
                    "sql_copy", source="src", source_table=source, target="dst", table=table, batch_size=2000
                )
            )
        finally:
            done.set()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(reader)
            group.start_soon(replace)
    assert len(counts) > 10
    assert set(counts) <= {5, 30000}, "a reader saw the table neither before nor after the swap"
    assert counts[0] == 5 and counts[-1] == 30000
    assert await target.side_tables() == []
    return outputs[0]
