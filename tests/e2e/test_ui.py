"""The web UI in Debian's Chromium (driven by Playwright) against a real `nomaflow serve` on SQLite.

An operator runs a job with an overridden param and watches it in the In flight panel, aborts a long
run, finds it in the Runs page and opens its diagrams; a viewer sees no Run, Abort or Pause button.
Every page is photographed into docs/ui/ for docs/ui-tour.md. Waits are on page state, never sleeps.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.engine.server.processes import Server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
INSTALL = Path(__file__).parent / "ui_install" / "app.toml"
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
SHOTS = ROOT / "docs" / "ui"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


def _missing(what: str) -> None:
    # Under CI a missing browser or build is a failure: a skipped UI suite would pass silently.
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the UI tests must run)")
    pytest.skip(what)


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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("ui")
    running = Server(INSTALL, f"sqlite+aiosqlite:///{folder / 'nomaflow.db'}")
    try:
        yield running
    finally:
        running.stop()


class Console:
    """Every error the page logs or throws: a test ends by asserting there were none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    console = Console(opened)
    try:
        yield opened, console
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page: Page, server: Server, user: str, photo: bool = False) -> None:
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(f"{user}-password")
    if photo:
        shot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("jobs-table")).to_be_visible()
    expect(page.locator(".live-on")).to_be_visible()  # Socket.IO connected: live events will arrive


def job_row(page: Page, job: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("jobs-table").locator(f"tr[data-job='{job}']")


def in_flight(page: Page, job: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("in-flight").locator(f"li[data-job='{job}']")


def test_operator_runs_watches_aborts_and_digs_into_history(
    server: Server, page: tuple[Page, Console], tmp_path: Path
) -> None:
    browser_page, console = page
    gate = tmp_path / "gate"
    sign_in(browser_page, server, "alice", photo=True)
    shot(browser_page, "jobs")

    # ▶ Run opens a dialog with the declared params; a bad number is refused before anything is sent.
    job_row(browser_page, "sales-report").get_by_role("button", name="▶ Run").click()
    dialog = browser_page.get_by_role("dialog", name="Run sales-report")
    expect(dialog.get_by_label("region")).to_have_value("all")
    expect(dialog.get_by_label("min_amount")).to_have_value("0")
    dialog.get_by_label("min_amount").fill("lots")
    expect(dialog.get_by_text("Enter a number.")).to_be_visible()
    expect(dialog.get_by_role("button", name="Start run")).to_be_disabled()
    browser_page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    job_row(browser_page, "sales-report").get_by_role("button", name="▶ Run").click()
    dialog.get_by_label("region").fill("emea")
    dialog.get_by_label("min_amount").fill("25")
    dialog.get_by_label("gate").fill(str(gate))
    shot(browser_page, "run-dialog")
    dialog.get_by_role("button", name="Start run").click()
    expect(dialog).to_be_hidden()

    # The run appears in flight and its steps fill in live.
    row = in_flight(browser_page, "sales-report")
    expect(row).to_have_count(1)
    expect(row.locator("[data-step='extract']")).to_have_attribute("data-status", "running")
    expect(row.locator("[data-step='summarise']")).to_have_attribute("data-status", "pending")
    shot(browser_page, "in-flight")
    gate.touch()
    expect(row.locator("[data-step='extract']")).to_have_attribute("data-status", "succeeded")
    expect(row.locator("[data-step='summarise']")).to_have_attribute("data-status", "running")
    Path(f"{gate}.summarise").touch()
    expect(row).to_have_count(0)  # it leaves the panel when the run ends
    expect(job_row(browser_page, "sales-report").locator("[data-status]")).to_have_text("succeeded")

    # A long run: reopening the page picks up its live state; abort it from its drawer.
    job_row(browser_page, "long-export").get_by_role("button", name="▶ Run").click()
    browser_page.get_by_role("dialog", name="Run long-export").get_by_role("button", name="Start run").click()
    row = in_flight(browser_page, "long-export")
    expect(row.locator("[data-step='export']")).to_have_attribute("data-status", "running")
    browser_page.reload()
    expect(row.locator("[data-step='export']")).to_have_attribute("data-status", "running")
    row.get_by_role("button", name="long-export").click()
    drawer = browser_page.get_by_test_id("run-drawer")
    expect(drawer.locator("li[data-step='export']")).to_have_attribute("data-status", "running")
    expect(drawer.get_by_test_id("log-tail")).to_contain_text("exported chunk 1")
    shot(browser_page, "run-drawer")
    drawer.get_by_role("button", name="Abort", exact=True).click()
    confirm = browser_page.get_by_role("dialog", name="Abort this run?")
    expect(confirm.get_by_role("button", name="Keep running")).to_be_focused()
    shot(browser_page, "abort-confirm")
    confirm.get_by_role("button", name="Abort run").click()
    expect(drawer.locator(".drawer-status [data-status]")).to_have_text("aborted")
    expect(drawer.locator("li[data-step='export']")).to_have_attribute("data-status", "aborted")
    expect(drawer.get_by_role("button", name="Retry from failed step")).to_be_visible()
    aborted_id = drawer.get_attribute("data-run-id")
    assert aborted_id
    browser_page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(row).to_have_count(0)

    # The Runs page: history with both runs; filter on status; open the aborted run and its diagrams.
    browser_page.get_by_role("link", name="Runs").click()
    runs = browser_page.get_by_test_id("runs-table")
    expect(runs.locator(f"tr[data-run-id='{aborted_id}'] [data-status]")).to_have_text("aborted")
    expect(runs.locator("tbody tr")).to_have_count(2)
    shot(browser_page, "runs")
    browser_page.get_by_label("Status").select_option("aborted")
    browser_page.get_by_role("button", name="Apply").click()
    expect(runs.locator("tbody tr")).to_have_count(1)
    runs.get_by_role("button", name=f"Open run {aborted_id}").click()
    drawer.get_by_role("button", name="Show state diagrams").click()
    diagrams = drawer.get_by_test_id("diagrams")
    expect(diagrams.locator("figure")).to_have_count(3)  # the run, then each of its two steps
    expect(diagrams.locator("figure").first.locator("svg")).to_contain_text("aborted")
    diagrams.locator("figure").first.scroll_into_view_if_needed()
    shot(browser_page, "diagrams")
    browser_page.keyboard.press("Escape")

    # Narrow screens: the same pages, tables as cards.
    browser_page.set_viewport_size(PHONE)
    expect(runs.locator("tbody tr")).to_have_count(1)
    shot(browser_page, "runs-narrow")
    browser_page.get_by_role("link", name="Jobs").click()
    expect(job_row(browser_page, "sales-report")).to_be_visible()
    shot(browser_page, "jobs-narrow")
    assert console.errors == []


def test_viewer_sees_no_run_abort_or_pause_button(server: Server, page: tuple[Page, Console]) -> None:
    browser_page, console = page
    started = httpx.post(
        f"{server.url}/admin/jobs/long-export/run", headers=server.auth("operator"), json={}, timeout=30
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    try:
        sign_in(browser_page, server, "victor")
        expect(browser_page.get_by_text("victor (viewer)")).to_be_visible()
        row = in_flight(browser_page, "long-export")
        expect(row.locator("[data-step='export']")).to_have_attribute("data-status", "running")
        expect(browser_page.get_by_role("button", name="▶ Run")).to_have_count(0)
        expect(browser_page.get_by_role("button", name=re.compile("^(Pause|Resume)$"))).to_have_count(0)
        row.get_by_role("button", name="long-export").click()
        drawer = browser_page.get_by_test_id("run-drawer")
        expect(drawer.get_by_test_id("log-tail")).to_contain_text("exported chunk")
        expect(drawer.get_by_role("button", name="Abort")).to_have_count(0)
        shot(browser_page, "viewer")
    finally:
        httpx.post(f"{server.url}/admin/runs/{run_id}/abort", headers=server.auth("operator"), timeout=30)
    expect(drawer.locator(".drawer-status [data-status]")).to_have_text("aborted")
    expect(drawer.get_by_role("button", name="Retry from failed step")).to_have_count(0)
    assert console.errors == []
