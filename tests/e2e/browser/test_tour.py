"""The operator's tour, in Chromium against a real `nomaflow serve` on SQLite: run a job with an
overridden param and watch it in flight, abort a long run from its drawer, find it in the Runs page,
read its log and diagrams; a viewer sees no Run, Abort or Pause button. axe-core checks every page on
the way (no serious or critical violation), and with NOMAFLOW_UI_SHOTS=1 each view is photographed into
docs/ui/ for docs/ui-tour.md. Costs about 10 s.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browser.conftest import PHONE, UIServer, check_a11y, shot, sign_in

pytestmark = pytest.mark.e2e


def job_row(page: Page, job: str) -> Locator:
    return page.get_by_test_id("jobs-table").locator(f"tr[data-job='{job}']")


def in_flight(page: Page, job: str) -> Locator:
    return page.get_by_test_id("in-flight").locator(f"li[data-job='{job}']")


def test_operator_runs_watches_aborts_and_digs_into_history(
    server: UIServer, page: Page, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    page.goto(server.url + "/")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page).to_have_title("Sign in · Nomaflow")
    check_a11y(page, "the sign-in form")
    sign_in(page, server, "alice", photo=True)
    expect(page).to_have_title("Jobs · Nomaflow")
    expect(job_row(page, "sales-report")).to_be_visible()
    # Every job's recent runs are read (a cell shows "…" until then).
    expect(
        page.get_by_test_id("jobs-table").locator("td[data-label='Recent runs']", has_text="…")
    ).to_have_count(0)
    check_a11y(page, "the Jobs page")
    shot(page, "jobs")

    # ▶ Run opens a dialog with the declared params; a bad number is refused before anything is sent.
    job_row(page, "sales-report").get_by_role("button", name="Run sales-report").click()
    dialog = page.get_by_role("dialog", name="Run sales-report")
    expect(dialog.get_by_label("region")).to_have_value("all")
    expect(dialog.get_by_label("min_amount")).to_have_value("0")
    dialog.get_by_label("min_amount").fill("lots")
    expect(dialog.get_by_text("Enter a number.")).to_be_visible()
    expect(dialog.get_by_role("button", name="Start run")).to_be_disabled()
    check_a11y(page, "the Run dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    job_row(page, "sales-report").get_by_role("button", name="Run sales-report").click()
    dialog.get_by_label("region").fill("emea")
    dialog.get_by_label("min_amount").fill("25")
    dialog.get_by_label("gate").fill(str(gate))
    shot(page, "run-dialog")
    dialog.get_by_role("button", name="Start run").click()
    expect(dialog).to_be_hidden()

    # The run appears in flight and its steps fill in live.
    row = in_flight(page, "sales-report")
    expect(row).to_have_count(1)
    expect(row.locator("[data-step='extract']")).to_have_attribute("data-status", "running")
    expect(row.locator("[data-step='summarise']")).to_have_attribute("data-status", "pending")
    shot(page, "in-flight")
    gate.touch()
    expect(row.locator("[data-step='extract']")).to_have_attribute("data-status", "succeeded")
    expect(row.locator("[data-step='summarise']")).to_have_attribute("data-status", "running")
    Path(f"{gate}.summarise").touch()
    expect(row).to_have_count(0)  # it leaves the panel when the run ends
    expect(job_row(page, "sales-report").locator("td[data-label='Last run'] [data-status]")).to_have_text(
        "succeeded"
    )

    # A long run: reopening the page picks up its live state; abort it from its drawer.
    job_row(page, "long-export").get_by_role("button", name="Run long-export").click()
    page.get_by_role("dialog", name="Run long-export").get_by_role("button", name="Start run").click()
    row = in_flight(page, "long-export")
    expect(row.locator("[data-step='export']")).to_have_attribute("data-status", "running")
    page.reload()
    expect(row.locator("[data-step='export']")).to_have_attribute("data-status", "running")
    row.get_by_role("link", name="Open running run of long-export").click()
    drawer = page.get_by_test_id("run-drawer")
    expect(drawer.locator("li[data-step='export']")).to_have_attribute("data-status", "running")
    expect(page).to_have_title(re.compile(r"^long-export run [0-9a-f]{8} · Nomaflow$"))
    check_a11y(page, "the run drawer's overview")
    shot(page, "run-drawer")
    drawer.get_by_role("tab", name="Log").click()
    expect(drawer.get_by_test_id("log-tail")).to_contain_text("exported chunk 1")
    check_a11y(page, "the run drawer's log")
    shot(page, "log-viewer")
    drawer.get_by_role("button", name=re.compile("^Abort long-export run")).click()
    confirm = page.get_by_role("dialog", name="Abort this run?")
    expect(confirm.get_by_role("button", name="Keep running")).to_be_focused()
    check_a11y(page, "the abort confirmation")
    shot(page, "abort-confirm")
    confirm.get_by_role("button", name="Abort run").click()
    expect(drawer.locator(".drawer-status [data-status]")).to_have_text("aborted")
    expect(drawer.get_by_role("button", name="Retry from failed step")).to_be_visible()
    aborted_id = drawer.get_attribute("data-run-id")
    assert aborted_id
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(page).to_have_title("Jobs · Nomaflow")
    expect(row).to_have_count(0)

    # The Runs page: the history with both runs; filter on status; open the aborted run's diagrams.
    page.get_by_role("link", name="Runs").click()
    expect(page).to_have_title("Runs · Nomaflow")
    runs = page.get_by_test_id("runs-table")
    expect(runs.locator(f"tr[data-run-id='{aborted_id}'] [data-status]")).to_have_text("aborted")
    expect(runs.locator(f"tr[data-run-id='{aborted_id}'] td[data-label='Error or reason']")).to_contain_text(
        "aborted by user:alice"
    )
    check_a11y(page, "the Runs page")
    shot(page, "runs")
    page.get_by_label("Status").select_option("aborted")
    expect(runs.locator(f"tr[data-run-id='{aborted_id}']")).to_be_visible()
    expect(runs.locator("tbody tr [data-status]:not([data-status='aborted'])")).to_have_count(0)
    runs.get_by_role("link", name=f"Open run {aborted_id}").click()
    drawer.get_by_role("tab", name="Diagrams").click()
    diagrams = drawer.get_by_test_id("diagrams")
    expect(diagrams.locator("figure")).to_have_count(3)  # the run, then each of its two steps
    run_figure = diagrams.locator("figure[data-machine='run']")
    expect(run_figure.locator("[data-state='aborted']")).to_have_class(re.compile("state-now state-aborted"))
    expect(run_figure.locator("[data-label='abort #2']")).to_have_class(re.compile("taken"))
    check_a11y(page, "the run drawer's diagrams")
    shot(page, "diagrams")
    page.keyboard.press("Escape")

    # Narrow screens: the same pages, tables as cards.
    page.set_viewport_size(PHONE)
    expect(runs.locator(f"tr[data-run-id='{aborted_id}']")).to_be_visible()
    check_a11y(page, "the Runs page at 390 px")
    shot(page, "runs-narrow")
    page.get_by_role("link", name="Jobs").click()
    expect(job_row(page, "sales-report")).to_be_visible()
    check_a11y(page, "the Jobs page at 390 px")
    shot(page, "jobs-narrow")


def test_viewer_sees_no_run_abort_or_pause_button(server: UIServer, page: Page) -> None:
    started = httpx.post(
        f"{server.url}/admin/jobs/long-export/run", headers=server.auth("operator"), json={}, timeout=30
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    try:
        sign_in(page, server, "victor")
        expect(page.get_by_text("victor (viewer)")).to_be_visible()
        row = in_flight(page, "long-export")
        expect(row.locator("[data-step='export']")).to_have_attribute("data-status", "running")
        expect(page.get_by_role("button", name=re.compile("^Run "))).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("^(Pause|Resume) "))).to_have_count(0)
        row.get_by_role("link", name="Open running run of long-export").click()
        drawer = page.get_by_test_id("run-drawer")
        drawer.get_by_role("tab", name="Log").click()
        expect(drawer.get_by_test_id("log-tail")).to_contain_text("exported chunk")
        expect(drawer.get_by_role("button", name=re.compile("^Abort"))).to_have_count(0)
        shot(page, "viewer")
    finally:
        httpx.post(f"{server.url}/admin/runs/{run_id}/abort", headers=server.auth("operator"), timeout=30)
    expect(drawer.locator(".drawer-status [data-status]")).to_have_text("aborted")
    expect(drawer.get_by_role("button", name="Retry from failed step")).to_have_count(0)
