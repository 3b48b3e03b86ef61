"""A host FastAPI service with Nomaflow mounted under /ops/jobs, served by uvicorn as users serve theirs:
the host has routes of its own and signs its staff in with a cookie of its own, which decides their
Nomaflow role. Used by the embedded end-to-end tests (REST, Socket.IO, CLI, and the UI in Chromium).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nomaflow.engine.config import load_install
from nomaflow.engine.server.auth.tokens import Tokens
from tests.e2e.conftest import free_port
from tests.engine.server.conftest import SECRET
from tests.engine.server.processes import Output, Server

PREFIX = "/ops/jobs"
COOKIE = "billing_session"
HOST_APP = f'''
"""A billing service with Nomaflow mounted under {PREFIX}."""
import os

from fastapi import FastAPI, Request, Response
from starlette.requests import HTTPConnection

from nomaflow import Nomaflow, Principal, Role

STAFF = {{"vic": Role.viewer, "olga": Role.operator}}


def caller(connection: HTTPConnection) -> Principal | None:
    name = connection.cookies.get("{COOKIE}", "")
    role = STAFF.get(name)
    return Principal(name, role) if role is not None else None


app = FastAPI(title="Billing")


@app.get("/")
async def home() -> dict[str, str]:
    return {{"service": "billing"}}


@app.get("/me")
async def me(request: Request) -> dict[str, str | None]:
    return {{"user": request.cookies.get("{COOKIE}")}}


@app.post("/administration/upload")
async def upload(request: Request) -> dict[str, int]:
    return {{"bytes": len(await request.body())}}


nomaflow = Nomaflow(os.environ["NOMAFLOW_CONFIG"])
nomaflow.mount(app, "{PREFIX}", auth=caller)
'''


class HostServer(Server):
    """uvicorn serving the host app on a free port; `url` is Nomaflow's address under the prefix,
    `root` the host's."""

    def __init__(self, folder: Path, app_toml: Path) -> None:
        (folder / "billing_host.py").write_text(HOST_APP)
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}{PREFIX}"
        self.env = {
            **os.environ,
            "NOMAFLOW_CONFIG": str(app_toml),
            "NOMAFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}",
            "NOMAFLOW_JWT_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        }
        self.tokens = Tokens(load_install(app_toml).settings.auth, self.env)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "billing_host:app",
                "--port",
                str(self.port),
                "--app-dir",
                str(folder),
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = Output(self.process)
        self.ready()

    def signed_in(self, user: str) -> dict[str, str]:
        """The host's own sign-in, as its cookie on a request."""
        return {"Cookie": f"{COOKIE}={user}"}
