"""The web UI's browser tests: Debian's Chromium (driven by Playwright) against real `nomaflow serve`.

Fixtures: one Chromium per module, one shared server on a SQLite job store, servers of a test's own
(to stop and restart), and a signed-in page that fails its test on any console error. Waits are on page
state and process output, never sleeps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.e2e.conftest import NOMAFLOW
from tests.engine.server.processes import Output, Server

ROOT = Path(__file__).resolve().parents[3]
INSTALL = Path(__file__).parent / "install"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUILD = ROOT / "engine" / "server" / "static" / "index.html"
AXE = ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "ui"
LAPTOP = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)
SESSION_KEY = "nomaflow.session"


def _missing(what: str) -> None:
    # Under CI a missing browser or build is a failure: a skipped UI suite would pass silently.
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the UI tests must run)")
    pytest.skip(what)


# Per module, not per session: Playwright's sync API keeps an event loop running on this thread while
# it is open, and the anyio tests that run after these need the thread to themselves.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is not installed (scripts/apt-packages.txt lists chromium)")
    if not BUILD.exists():
        _missing("the UI is not built (scripts/setup.sh runs `npm ci && npm run build` in ui/)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class UIServer(Server):
    """A `nomaflow serve` that can be stopped and started again on the same port and job store."""

    def restart(self) -> None:
        self.stop()
        self.process = subprocess.Popen(
            [NOMAFLOW, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = Output(self.process)
        self.ready()


def copy_install(folder: Path, extra_jobs: str = "") -> Path:
    """The browser tests' install copied into `folder`, with `extra_jobs` (TOML) appended to its jobs."""
    target = folder / "install"
    shutil.copytree(INSTALL, target, ignore=shutil.ignore_patterns("__pycache__"))
    if extra_jobs:
        jobs = target / "plugins" / "uijobs" / "jobs.toml"
        jobs.write_text(jobs.read_text() + "\n" + extra_jobs)
    return target / "app.toml"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """The server most tests share; a test that needs it alone (to stop it) takes `own_server`."""
    folder = tmp_path_factory.mktemp("ui")
    running = UIServer(INSTALL / "app.toml", f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., UIServer]]:
    """Start servers of this test's own: `own_server(extra_jobs="...")`; each is stopped at the end."""
    started: list[UIServer] = []

    def start(extra_jobs: str = "") -> UIServer:
        folder = tmp_path / f"server-{len(started)}"
        folder.mkdir()
        app_toml = copy_install(folder, extra_jobs)
        running = UIServer(app_toml, f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}")
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


class Console:
    """Every error the page logs or throws: a test ends by asserting there were none.

    `expected` lists fragments of errors a test provokes on purpose (the browser logs a refused request
    while a test has stopped the server)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.expected: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(part in message.text for part in self.expected):
            self.errors.append(message.text)


class Browse:
    """A new browser context and page, with its console watched; `new(...)` takes context options."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.consoles: list[Console] = []

    def new(self, **options: Any) -> Page:
        options.setdefault("viewport", LAPTOP)
        options.setdefault("timezone_id", "UTC")  # what the pages show does not depend on the machine's zone
        context = self.browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        self.consoles.append(Console(page))
        return page

    def console(self, page: Page) -> Console:
        return self.consoles[[c.pages[0] for c in self.contexts].index(page)]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browse(browser: Browser) -> Iterator[Browse]:
    opened = Browse(browser)
    try:
        yield opened
    finally:
        errors = [error for console in opened.consoles for error in console.errors]
        opened.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def page(browse: Browse) -> Page:
    return browse.new()


def shot(page: Page, name: str) -> None:
    """Photograph the page into docs/ui/<name>.png for docs/ui-tour.md, only when NOMAFLOW_UI_SHOTS=1:
    a plain test run leaves the committed pictures alone."""
    if os.environ.get("NOMAFLOW_UI_SHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page: Page, server: Server, user: str = "alice", path: str = "/", photo: bool = False) -> None:
    page.goto(server.url + path)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(f"{user}-password")
    if photo:
        shot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".live-on")).to_be_visible()  # Socket.IO connected: live events will arrive


def signed_in(page: Page, server: Server, user: str = "alice", role: str = "admin") -> None:
    """Put a session in the page's storage before it loads (faster than the form, for tests of other
    things); the token is a real one for a UI user of the install."""
    token = server.token(role, user, "user")
    session = {"token": token, "subject": user, "role": role, "expires_at": "2999-01-01T00:00:00Z"}
    page.add_init_script(
        f"localStorage.setItem({json.dumps(SESSION_KEY)}, {json.dumps(json.dumps(session))})"
    )


def check_a11y(page: Page, where: str) -> None:
    """axe-core (from ui/node_modules, never a CDN) on the page as it is: no serious or critical issue."""
    if not AXE.exists():
        _missing("axe-core is not installed (npm ci in ui/)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations
              .filter((v) => v.impact === "serious" || v.impact === "critical")
              .map((v) => {
                const where = v.nodes.map((n) => n.target.join(" ")).join(", ");
                return `${v.impact} ${v.id}: ${v.help} — ${where}`;
              });
        }"""
    )
    assert found == [], f"axe on {where}:\n" + "\n".join(found)
