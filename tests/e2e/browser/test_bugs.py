"""The nine bugs of issue #14, each as an operator met it, in Chromium against a real server.

Each test failed on the UI before the fix (see the commit that brought it). Runs are started through
the REST API where the test is not about starting them, so a test depends on the UI only where the bug
was. Costs: about 1-3 s each; the connection tests stop and restart their own server (~6 s each).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browser.conftest import Browse, UIServer, shot, signed_in

pytestmark = pytest.mark.e2e

REFUSED = ("ERR_CONNECTION_REFUSED", "WebSocket connection to", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE")


def start(server: UIServer, job: str, **params: object) -> str:
    answer = httpx.post(
        f"{server.url}/admin/jobs/{job}/run",
        headers=server.auth("operator"),
        json={"params": params},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def abort(server: UIServer, run_id: str) -> None:
    httpx.post(f"{server.url}/admin/runs/{run_id}/abort", headers=server.auth("operator"), timeout=30)


def wait_ended(server: UIServer, run_id: str) -> dict[str, object]:
    """The run once it has ended (the server's long-poll answers when it does)."""
    for _ in range(10):
        run = httpx.get(
            f"{server.url}/admin/runs/{run_id}",
            params={"wait": 30},
            headers=server.auth("viewer"),
            timeout=40,
        ).json()
        if run["status"] != "running":
            return dict(run)
    raise AssertionError(f"run {run_id} never ended")


def drawer_of(page: Page) -> Locator:
    return page.get_by_test_id("run-drawer")


def drawer_status(page: Page) -> Locator:
    return drawer_of(page).locator(".drawer-status [data-status]")


# --- 1. a lost connection is invisible while the drawer is open; the Runs page stays broken after ---


def test_lost_connection_shows_in_the_drawer_and_every_view_recovers(
    own_server: Callable[..., UIServer], browse: Browse
) -> None:
    server = own_server()
    page = browse.new()
    browse.console(page).expected.extend(REFUSED)
    signed_in(page, server)
    run_id = start(server, "long-export")
    page.goto(f"{server.url}/runs?run={run_id}")
    expect(drawer_status(page)).to_have_text("running")
    abort_button = drawer_of(page).get_by_role("button", name=re.compile("^Abort"))
    expect(abort_button).to_be_enabled()

    server.stop()  # the run in flight is aborted by the shutdown
    expect(drawer_of(page).get_by_role("alert")).to_contain_text("connection to the server is lost")
    expect(abort_button).to_be_disabled()
    expect(drawer_status(page)).to_contain_text("last known")
    shot(page, "offline")

    server.restart()
    expect(drawer_status(page)).to_have_text("aborted")  # the truth, without a reload
    expect(drawer_of(page).get_by_role("alert")).to_have_count(0)
    expect(abort_button).to_have_count(0)
    page.keyboard.press("Escape")
    runs = page.get_by_test_id("runs-table")
    expect(runs.locator(f"tr[data-run-id='{run_id}'] [data-status]")).to_have_text("aborted")
    expect(page.get_by_text("Failed to fetch")).to_have_count(0)
    expect(page.get_by_text("No runs match")).to_have_count(0)


# --- 2. the Runs page is static ---


def test_runs_page_shows_new_runs_and_their_changes_live(
    server: UIServer, page: Page, tmp_path: Path
) -> None:
    signed_in(page, server)
    page.goto(f"{server.url}/runs")
    expect(page.get_by_test_id("runs-table")).to_be_visible()
    expect(page.locator(".live-on")).to_be_visible()
    gate = tmp_path / "gate"
    run_id = start(server, "sales-report", gate=str(gate))
    row = page.get_by_test_id("runs-table").locator(f"tr[data-run-id='{run_id}']")
    expect(row.locator("[data-status]").first).to_have_text("running")
    gate.touch()
    Path(f"{gate}.summarise").touch()
    expect(row.locator("[data-status]").first).to_have_text("succeeded")


# --- 3. no time zone on any time ---


def test_next_fire_in_the_jobs_zone_with_the_local_time_and_log_lines_with_a_date(
    server: UIServer, browse: Browse
) -> None:
    page = browse.new(timezone_id="America/Los_Angeles")
    signed_in(page, server)
    page.goto(server.url + "/")
    job = httpx.get(f"{server.url}/admin/jobs/tokyo-close", headers=server.auth("viewer"), timeout=30).json()
    fire = datetime.fromisoformat(job["next_fire"])
    from zoneinfo import ZoneInfo

    local = fire.astimezone(ZoneInfo("America/Los_Angeles"))
    cell = page.get_by_test_id("jobs-table").locator("tr[data-job='tokyo-close'] [data-testid='next-fire']")
    expect(cell).to_contain_text("04:30:00 JST")
    expect(cell).to_contain_text(f"{local:%H:%M:%S} {local.tzname()}")

    run_id = start(server, "tokyo-close")
    wait_ended(server, run_id)
    page.goto(f"{server.url}/?run={run_id}&tab=log")
    first = drawer_of(page).get_by_test_id("log-tail").get_by_text("prepared")
    expect(first).to_be_visible()
    line = first.locator("xpath=ancestor-or-self::*[contains(@class, 'log-line') or parent::pre][1]")
    expect(line).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} P[SD]T"))


# --- 4. past events read as future ---


def test_past_events_never_read_as_future_even_with_a_browser_clock_behind(
    server: UIServer, browse: Browse, tmp_path: Path
) -> None:
    page = browse.new()
    # The browser's clock is 30 s behind the server's: every time the server sends is "in the future".
    page.clock.set_fixed_time(datetime.now(UTC) - timedelta(seconds=30))
    signed_in(page, server)
    page.goto(server.url + "/")
    expect(page.locator(".live-on")).to_be_visible()
    gate = tmp_path / "gate"
    gate.touch()
    Path(f"{gate}.summarise").touch()
    run_id = start(server, "sales-report", gate=str(gate))
    wait_ended(server, run_id)
    last = page.get_by_test_id("jobs-table").locator("tr[data-job='sales-report'] td[data-label='Last run']")
    expect(last.locator("[data-status]")).to_have_text("succeeded")
    expect(last).not_to_contain_text(re.compile(r"\bin \d+ (second|minute)"))
    expect(last).to_contain_text(re.compile(r"just now|ago"))


# --- 5. an unknown run id ---


def test_unknown_run_id_shows_only_that_it_is_unknown(server: UIServer, browse: Browse) -> None:
    page = browse.new()
    browse.console(page).expected.append("status of 404")  # the browser logs the API's 404 itself
    signed_in(page, server)
    missing = str(uuid.uuid4())
    page.goto(f"{server.url}/?run={missing}")
    drawer = drawer_of(page)
    expect(drawer).to_contain_text(f"No run with id {missing}")
    expect(drawer.locator("[data-status]")).to_have_count(0)
    expect(drawer.get_by_role("button", name=re.compile("^Abort"))).to_have_count(0)


# --- 6. a retried step's duration differs live and after a reload ---


def test_retried_steps_duration_is_the_same_live_and_after_reload(server: UIServer, page: Page) -> None:
    signed_in(page, server)
    page.goto(server.url + "/")
    run_id = start(server, "flaky-import")
    page.goto(f"{server.url}/?run={run_id}")
    expect(drawer_status(page)).to_have_text("succeeded")
    step = drawer_of(page).locator("[data-step='load-warehouse'] .timeline-head").first
    expect(step).to_contain_text("3 attempts")
    live_text = step.text_content()
    assert live_text is not None
    page.reload()
    expect(drawer_status(page)).to_have_text("succeeded")
    expect(step).to_have_text(live_text)


# --- 7. the log tail jumps to the bottom on every new line ---


def test_log_stays_where_the_reader_scrolled_while_lines_stream(
    server: UIServer, page: Page, tmp_path: Path
) -> None:
    signed_in(page, server)
    gate = tmp_path / "gate"
    run_id = start(server, "chatty", gate=str(gate), burst=300)
    try:
        page.goto(f"{server.url}/?run={run_id}&tab=log")
        log = drawer_of(page).get_by_test_id("log-tail")
        expect(log).to_contain_text("still talking")
        log.evaluate("element => { element.scrollTop = 0; element.dispatchEvent(new Event('scroll')); }")
        height = log.evaluate("element => element.scrollHeight")
        # New lines arrive (the content grows) while the reader is at the top...
        page.wait_for_function(
            "([element, height]) => element.scrollHeight > height + 100", arg=[log.element_handle(), height]
        )
        # ...and the reader stays there.
        assert log.evaluate("element => element.scrollTop") == 0
    finally:
        gate.touch()
        wait_ended(server, run_id)


# --- 8. "Last run" says skipped while the job's real run is in flight ---


def test_last_run_is_the_run_in_flight_not_a_skipped_one(server: UIServer, page: Page) -> None:
    signed_in(page, server)
    running = start(server, "long-export")
    skipped = start(server, "long-export")
    try:
        page.goto(server.url + "/")
        last = page.get_by_test_id("jobs-table").locator(
            "tr[data-job='long-export'] td[data-label='Last run']"
        )
        expect(last.locator("[data-status]").first).to_have_text("running")
        last.get_by_role("link").first.click()
        expect(drawer_of(page)).to_have_attribute("data-run-id", running)
        assert skipped != running
    finally:
        abort(server, running)
        wait_ended(server, running)


# --- 9. the smaller ones ---


def test_run_dialog_says_the_server_is_unreachable(
    own_server: Callable[..., UIServer], browse: Browse
) -> None:
    server = own_server()
    page = browse.new()
    browse.console(page).expected.extend(REFUSED)
    signed_in(page, server)
    page.goto(server.url + "/")
    page.get_by_test_id("jobs-table").locator("tr[data-job='sales-report']").get_by_role(
        "button", name=re.compile("Run")
    ).click()
    dialog = page.get_by_role("dialog", name="Run sales-report")
    server.stop()
    expect(dialog.get_by_role("alert")).to_contain_text("connection to the server is lost")
    start_button = dialog.get_by_role("button", name="Start run")
    expect(start_button).to_be_disabled()
    expect(dialog).not_to_contain_text("Failed to fetch")
    server.restart()
    expect(start_button).to_be_enabled()
    start_button.click()
    expect(dialog).to_be_hidden()


def test_an_invalid_token_returns_to_login_saying_why(server: UIServer, browse: Browse) -> None:
    page = browse.new()
    # The browser logs the refusals itself: the API's 401, and Socket.IO's 400 when it asks first.
    browse.console(page).expected.extend(["status of 401", "status of 400"])
    session = (
        '{"token": "not-a-token", "subject": "alice", "role": "admin", "expires_at": "2999-01-01T00:00:00Z"}'
    )
    page.add_init_script(f"localStorage.setItem('nomaflow.session', {session!r})")
    page.goto(server.url + "/")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("sign in again")


def test_log_levels_are_spaced_from_the_step_name(server: UIServer, page: Page) -> None:
    signed_in(page, server)
    run_id = start(server, "flaky-import", fail_times=0)
    wait_ended(server, run_id)
    page.goto(f"{server.url}/?run={run_id}&tab=log")
    log = drawer_of(page).get_by_test_id("log-tail")
    expect(log).to_contain_text("the warehouse is slow today")
    expect(log).to_contain_text("WARNING")
    expect(log).not_to_contain_text("WARNING[")


def test_skipped_run_names_and_links_its_blocking_run(server: UIServer, page: Page) -> None:
    signed_in(page, server)
    running = start(server, "long-export")
    skipped = start(server, "long-export")
    try:
        page.goto(f"{server.url}/?run={skipped}")
        drawer = drawer_of(page)
        expect(drawer_status(page)).to_have_text("skipped")
        expect(drawer.get_by_role("heading", name="Steps")).to_have_count(0)
        drawer.get_by_role("link", name=re.compile(running[:8])).click()
        expect(drawer_of(page)).to_have_attribute("data-run-id", running)
    finally:
        abort(server, running)
        wait_ended(server, running)


def test_runs_filters_are_in_the_address_and_survive_reload_and_back(server: UIServer, page: Page) -> None:
    signed_in(page, server)
    page.goto(f"{server.url}/runs")
    expect(page.get_by_test_id("runs-table")).to_be_visible()
    page.get_by_label("Status").select_option("aborted")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]status=aborted"))
    page.reload()
    expect(page.get_by_label("Status")).to_have_value("aborted")
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"status="))
    expect(page.get_by_label("Status")).to_have_value("")
