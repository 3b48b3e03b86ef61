"""The same build under a prefix: a host FastAPI app mounts Nomaflow (API, Socket.IO and UI) at
/ops/jobs, as an install inside an existing service or behind a reverse proxy's sub-path does. The UI
must find its assets, API, live events and pages there with nothing configured. Costs about 4 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import BUILD, INSTALL, check_a11y, sign_in
from tests.e2e.conftest import free_port
from tests.engine.server.conftest import SECRET
from tests.engine.server.processes import Output, Server

pytestmark = pytest.mark.e2e

PREFIX = "/ops/jobs"
HOST_APP = f'''
"""A host service with Nomaflow mounted under {PREFIX}."""
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from nomaflow.engine.server import Nomaflow
from nomaflow.engine.server.spa import mount_spa

nomaflow = Nomaflow(os.environ["NOMAFLOW_CONFIG"])
jobs = FastAPI()
nomaflow.mount(jobs)
mount_spa(jobs)


@asynccontextmanager
async def lifespan(app):
    async with nomaflow.running(jobs):
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def home() -> dict[str, str]:
    return {{"service": "billing"}}


app.mount("{PREFIX}", jobs)
'''


class HostServer(Server):
    """uvicorn serving the host app; tokens and auth as for `nomaflow serve`."""

    def __init__(self, folder: Path) -> None:
        (folder / "billing_host.py").write_text(HOST_APP)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.env = {
            **os.environ,
            "NOMAFLOW_CONFIG": str(INSTALL / "app.toml"),
            "NOMAFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}",
            "NOMAFLOW_JWT_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        from nomaflow.engine.config import load_install
        from nomaflow.engine.server.auth.tokens import Tokens

        self.tokens = Tokens(load_install(INSTALL / "app.toml").settings.auth, self.env)
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


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostServer]:
    running = HostServer(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_the_ui_works_under_a_host_apps_prefix(host: HostServer, page: Page, tmp_path: Path) -> None:
    assert httpx.get(host.url.removesuffix(PREFIX) + "/", timeout=10).json() == {"service": "billing"}
    sign_in(page, host, "alice", path="/")  # /ops/jobs/: assets, login and Socket.IO under the prefix
    expect(page.get_by_test_id("jobs-table")).to_be_visible()
    check_a11y(page, "the Jobs page under a prefix")

    gate = tmp_path / "gate"
    gate.touch()
    Path(f"{gate}.summarise").touch()
    page.get_by_test_id("jobs-table").locator("tr[data-job='sales-report']").get_by_role(
        "button", name="Run sales-report"
    ).click()
    dialog = page.get_by_role("dialog", name="Run sales-report")
    dialog.get_by_label("gate").fill(str(gate))
    dialog.get_by_role("button", name="Start run").click()
    last = page.get_by_test_id("jobs-table").locator("tr[data-job='sales-report'] td[data-label='Last run']")
    expect(last.locator("[data-status]")).to_have_text("succeeded")  # live events reached the page

    page.get_by_role("link", name="Runs").click()
    expect(page).to_have_url(f"{host.url}/runs")
    page.reload()  # the server serves the app at its own routes under the prefix too
    row = page.get_by_test_id("runs-table").locator("tr[data-job='sales-report']")
    expect(row.locator("[data-status]")).to_have_text("succeeded")
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(host.url)}/runs\?run="))
    page.get_by_test_id("run-drawer").get_by_role("tab", name="Log").click()
    expect(page.get_by_test_id("log-tail")).to_contain_text("summarised 40 orders")


def test_the_build_holds_no_absolute_path_of_the_server() -> None:
    built = [BUILD, *sorted((BUILD.parent / "assets").glob("*"))]
    for path in built:
        text = path.read_text(errors="replace")
        for absolute in ('"/admin', "'/admin", "`/admin", '"/assets', "'/assets", '="/', "`/health"):
            assert absolute not in text, f"{path.name} holds {absolute!r}: the UI would break under a prefix"
