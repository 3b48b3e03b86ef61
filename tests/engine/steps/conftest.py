"""Fixtures for the SQL step tests: this session's own databases on the real servers, and an install
folder with connectors and named queries to run steps against.

PostgreSQL comes from the shared `pg_server` fixture (tests/conftest.py): two fresh databases, a source
and a target. MariaDB comes from NOMAFLOW_TEST_MARIADB_URL (default mysql://root@127.0.0.1:3306/test),
used only to create and drop this session's database. An unreachable server skips its tests, except
under CI (CI=true), where it fails them.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncmy
import msgspec
import pytest
from sqlalchemy.engine import make_url

from nomaflow.actors.ports import StepContext, StepLog
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.sql.copy import SqlCopy
from nomaflow.engine.steps.sql.query import SqlQuery

DEFAULT_MARIADB_URL = "mysql://root@127.0.0.1:3306/test"


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class PgPair:
    source: str
    target: str


@pytest.fixture(scope="session")
async def pg_pair(pg_server: Any) -> AsyncIterator[PgPair]:
    """Two empty PostgreSQL databases of this session: a source and a target, dropped at the end."""
    source = await pg_server.create_database()
    target = await pg_server.create_database()
    try:
        yield PgPair(source, target)
    finally:
        await pg_server.drop_database(source)
        await pg_server.drop_database(target)


def _mysql_args(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
    }


@pytest.fixture(scope="session")
async def mariadb_url() -> AsyncIterator[str]:
    """A fresh MariaDB database of this session (nomaflow_t_<random>), dropped at the end."""
    admin = os.environ.get("NOMAFLOW_TEST_MARIADB_URL", DEFAULT_MARIADB_URL)
    try:
        connection = await asyncmy.connect(**_mysql_args(admin), connect_timeout=5)
    except Exception as exc:
        reason = f"MariaDB is not reachable at {make_url(admin).render_as_string(hide_password=True)}: {exc}"
        if _under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"nomaflow_t_{secrets.token_hex(6)}"
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        async with connection.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


@dataclass
class Logged:
    lines: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    on_line: Callable[[str, str, dict[str, Any] | None], None] | None = None

    def emit(self, level: str, message: str, fields: dict[str, Any] | None) -> None:
        self.lines.append((level, message, fields))
        if self.on_line is not None:
            self.on_line(level, message, fields)

    @property
    def text(self) -> str:
        return "\n".join(message for _, message, _ in self.lines)


class SqlInstall:
    """An install folder with connectors and named queries, and the two SQL step types on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.connectors: dict[str, dict[str, Any]] = {}
        self.env: StepEnvironment | None = None
        self._types: dict[str, StepType[Any]] = {}

    def connector(self, name: str, url: str, **options: Any) -> SqlInstall:
        self.connectors[name] = {"url": url, **options}
        return self

    def queries(self, app: str, file: str, text: str) -> SqlInstall:
        folder = self.root / "plugins" / app / "queries"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text(text, encoding="utf-8")
        return self

    def step_type(self, name: str) -> StepType[Any]:
        if self.env is None:
            self.env = StepEnvironment(root=self.root, settings={"connectors": dict(self.connectors)})
        if name not in self._types:
            kinds: dict[str, Callable[[StepEnvironment], StepType[Any]]] = {
                "sql_query": SqlQuery,
                "sql_copy": SqlCopy,
            }
            self._types[name] = kinds[name](self.env)
        return self._types[name]

    def check(self, type_name: str, **options: Any) -> list[tuple[str, str]]:
        step_type = self.step_type(type_name)
        decoded = msgspec.convert(options, step_type.options, strict=False)
        return step_type.check(decoded)

    async def run(
        self,
        type_name: str,
        *,
        step: str = "step1",
        dry_run: bool = False,
        log: Logged | None = None,
        **options: Any,
    ) -> Any:
        step_type = self.step_type(type_name)
        decoded = msgspec.convert(options, step_type.options, strict=False)
        ctx = StepContext(
            run_id="run-1",
            job="job-1",
            step=step,
            attempt=1,
            params={},
            dry_run=dry_run,
            outputs={},
            previous_output=None,
            log=StepLog((log or Logged()).emit),
            cancel_flag=threading.Event(),
            now=lambda: datetime.now(UTC),
        )
        return await step_type.run(ctx, decoded)

    async def aclose(self) -> None:
        for step_type in self._types.values():
            await step_type.aclose()


@pytest.fixture
async def sql_install(tmp_path: Path) -> AsyncIterator[SqlInstall]:
    install = SqlInstall(tmp_path)
    try:
        yield install
    finally:
        await install.aclose()
