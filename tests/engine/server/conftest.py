"""The server in-process: a `Nomaflow` host on the test's job store, its app driven through httpx's ASGI
transport, and tokens for each role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nomaflow.engine.config import Install
from nomaflow.engine.engine import Engine
from nomaflow.engine.server import Nomaflow, create_app
from nomaflow.engine.server.auth.tokens import Role, TokenKind

INSTALL = Path(__file__).parent / "install" / "app.toml"
SECRET = "test-secret-" + "s" * 40
ENVIRON = {"NOMAFLOW_JWT_SECRET": SECRET}


@dataclass
class Served:
    host: Nomaflow
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def engine(self) -> Engine:
        return self.host.engine

    def token(self, role: str = "admin", subject: str = "tester", kind: TokenKind = "service") -> str:
        return self.host.tokens.issue(subject, Role[role], kind, timedelta(hours=1), datetime.now(UTC))

    def auth(
        self, role: str = "admin", subject: str = "tester", kind: TokenKind = "service"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, subject, kind)}"}


@asynccontextmanager
async def serve(
    database_url: str, environ: Mapping[str, str] = ENVIRON, install: Install | Path = INSTALL, **options: Any
) -> AsyncIterator[Served]:
    options.setdefault("scheduler", False)
    host = Nomaflow(install, environ=environ, database_url=database_url, **options)
    app = create_app(host)
    async with host.running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nomaflow") as http:
            yield Served(host, app, http)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """On a SQLite job store: for what does not depend on the database."""
    async with serve(f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}") as running:
        yield running


@pytest.fixture
async def served_on(database_url: str) -> AsyncIterator[Served]:
    """On SQLite and on PostgreSQL: for what writes or queries in a dialect's own way."""
    async with serve(database_url) as running:
        yield running


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    """A file path the `gated` job waits for: create it to let the run go on."""
    return tmp_path / "gate"
