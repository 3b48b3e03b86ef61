"""The operator-grade views of issue #14, in Chromium against a real server: times in every zone, the
live Runs page fed by cron, the log viewer, the run timeline and the state diagrams of a retried step;
and (issue 13) the badge on a step that ran dry. Costs about 1-3 s each; the cron test starts a server
of its own (~3 s).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import FloatRect, Page, expect

from tests.e2e.browser.conftest import Browse, UIServer, check_a11y, shot, signed_in

pytestmark = pytest.mark.e2e

TICKER = """
[[jobs]]
name = "ticker"
description = "Fires every second."
schedule = "* * * * * *"

[[jobs.steps]]
name = "tick"
type = "python"
callable = "uijobs.tasks:prepare"
"""


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
    url = f"{server.url}/admin/runs/{run_id}/abort"
    answer = httpx.post(url, headers=server.auth("operator"), timeout=30)
    assert answer.status_code in (200, 202), answer.text


def ended(server: UIServer, run_id: str) -> dict[str, Any]:
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


def stored_log(server: UIServer, run_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/admin/runs/{run_id}/logs", headers=server.auth("viewer"), timeout=30)
    return list(answer.json()["lines"])


def test_times_show_their_zone_and_the_viewers_choice_is_remembered(server: UIServer, browse: Browse) -> None:
    page = browse.new(timezone_id="America/Los_Angeles")
    signed_in(page, server)
    run_id = start(server, "tokyo-close")
    ended(server, run_id)
    page.goto(f"{server.url}/runs?job=tokyo-close")
    started = page.get_by_test_id("runs-table").locator(
        f"tr[data-run-id='{run_id}'] td[data-label='Started'] time"
    )
    expect(started).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} P[SD]T$"))
    expect(started).to_have_attribute(
        "title",
        re.compile(r"Your time \(America/Los_Angeles\).*\nUTC: .*\nJob's zone \(Asia/Tokyo\): .* JST"),
    )
    page.get_by_label("Times in").select_option("utc")
    expect(started).to_have_text(re.compile(r" UTC$"))
    page.reload()
    expect(page.get_by_label("Times in")).to_have_value("utc")
    expect(started).to_have_text(re.compile(r" UTC$"))
    # The time filters are read in the zone shown: "after" the run's start minute in UTC keeps it.
    wall = started.inner_text()[:16].replace(" ", "T")
    page.get_by_label(re.compile("Started after")).fill(wall)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"since={wall[:13]}%3A{wall[14:16]}%3A00Z"))
    expect(page.get_by_test_id("runs-table").locator(f"tr[data-run-id='{run_id}']")).to_be_visible()
    page.get_by_label("Times in").select_option("job")
    expect(started).to_have_text(re.compile(r" JST$"))


def test_a_cron_run_appears_on_an_open_runs_page_within_a_second(
    own_server: Callable[..., UIServer], browse: Browse
) -> None:
    server = own_server(extra_jobs=TICKER)
    page = browse.new()
    signed_in(page, server)
    page.goto(f"{server.url}/runs?job=ticker")
    expect(page.get_by_test_id("runs-table")).to_be_visible()
    expect(page.locator(".live-on")).to_be_visible()
    # Note when each ticker row enters the page, and compare it with when its run started.
    watching_since = page.evaluate(
        """() => {
            window.rowsSeen = [];
            new MutationObserver(() => {
                for (const row of document.querySelectorAll("tr[data-job='ticker']")) {
                    if (row.dataset.seen) continue;
                    row.dataset.seen = "1";
                    const started = row.querySelector("time")?.getAttribute("datetime");
                    window.rowsSeen.push({ id: row.dataset.runId, started, at: Date.now() });
                }
            }).observe(document.body, { childList: true, subtree: true });
            for (const row of document.querySelectorAll("tr[data-job='ticker']")) row.dataset.seen = "1";
            return Date.now();
        }"""
    )
    page.wait_for_function(
        "since => window.rowsSeen.some((row) => Date.parse(row.started) > since)", arg=watching_since
    )
    seen = page.evaluate(
        "since => window.rowsSeen.filter((row) => Date.parse(row.started) > since)", watching_since
    )
    first = seen[0]
    run = httpx.get(
        f"{server.url}/admin/runs/{first['id']}", headers=server.auth("viewer"), timeout=30
    ).json()
    assert run["triggered_by"] == "cron"
    delay_ms = first["at"] - page.evaluate("iso => Date.parse(iso)", run["started_at"])
    assert 0 <= delay_ms < 1000, f"the cron run appeared {delay_ms} ms after it started"
    # It changes in place as it ends, without a reload.
    expect(page.locator(f"tr[data-run-id='{first['id']}'] [data-status]").first).to_have_text("succeeded")
    shot(page, "runs-live")


def test_log_viewer_searches_filters_shows_a_lines_fields_and_downloads(
    server: UIServer, page: Page, tmp_path: Path
) -> None:
    signed_in(page, server)
    run_id = start(server, "flaky-import")
    ended(server, run_id)
    stored = stored_log(server, run_id)
    page.goto(f"{server.url}/?run={run_id}&tab=log")
    drawer = page.get_by_test_id("run-drawer")
    expect(drawer.get_by_test_id("log-count")).to_have_text(f"{len(stored)} of {len(stored)} lines")

    # Search: every match highlighted, and the count is the number of lines holding it.
    drawer.get_by_label("Search the log").fill("REFUSED")
    holding = [line for line in stored if "refused" in line["message"].lower()]
    expect(drawer.locator(".match-count")).to_have_text(f"1 of {len(holding)}")
    expect(drawer.locator(".log-line mark")).to_have_count(len(holding))
    drawer.get_by_role("button", name="Next match").click()
    expect(drawer.locator(".match-count")).to_have_text(f"2 of {len(holding)}")
    expect(drawer.locator(".log-current")).to_contain_text("refused")
    check_a11y(page, "the log viewer while searching")
    shot(page, "log-search")
    drawer.get_by_label("Search the log").fill("")

    # Level and step filters, and state changes hidden.
    drawer.get_by_label("Level").select_option("warning")
    warnings = [line for line in stored if line["level"] in ("warning", "error")]
    expect(drawer.get_by_test_id("log-count")).to_have_text(f"{len(warnings)} of {len(stored)} lines")
    expect(drawer.locator(".log-line.log-info")).to_have_count(0)
    drawer.get_by_label("Level").select_option("")
    drawer.get_by_label("Step").select_option("fetch")
    fetch_lines = [line for line in stored if line["step"] == "fetch"]
    expect(drawer.get_by_test_id("log-count")).to_have_text(f"{len(fetch_lines)} of {len(stored)} lines")
    drawer.get_by_label("Step").select_option("")
    drawer.get_by_label("State changes").uncheck()
    expect(drawer.locator(".log-transition")).to_have_count(0)
    drawer.get_by_label("State changes").check()

    # A traceback is a field of its line: the line's details show it.
    traceback_line = next(line for line in stored if (line["fields"] or {}).get("traceback"))
    drawer.get_by_role("button", name=f"Details of line {traceback_line['seq']}").click()
    details = drawer.get_by_role("region", name="Line details")
    expect(details).to_contain_text("Traceback (most recent call last)")
    expect(details).to_contain_text("ConnectionError")

    # Download: the whole log as text, a line per row, each with its date and zone.
    with page.expect_download() as download:
        drawer.get_by_role("button", name="Download").click()
    text = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == f"flaky-import-{run_id[:8]}.log"
    assert len(text.splitlines()) == len(stored)
    assert re.match(
        r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} UTC INFO    run: pending -> running \(admit\)$",
        text.splitlines()[0],
    )
    assert any("WARNING [load-warehouse] attempt 1" in line for line in text.splitlines())


def overlaps(boxes: list[FloatRect]) -> list[tuple[int, int]]:
    found = []
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            if (
                a["x"] < b["x"] + b["width"]
                and b["x"] < a["x"] + a["width"]
                and a["y"] < b["y"] + b["height"]
                and b["y"] < a["y"] + a["height"]
            ):
                found.append((i, j))
    return found


def test_timeline_shows_every_attempt_wait_and_traceback_and_opens_the_step_diagram(
    server: UIServer, page: Page
) -> None:
    signed_in(page, server)
    run_id = start(server, "flaky-import")
    ended(server, run_id)
    page.goto(f"{server.url}/?run={run_id}")
    drawer = page.get_by_test_id("run-drawer")
    step = drawer.locator("li[data-step='load-warehouse']")
    expect(step).to_have_attribute("data-status", "succeeded")
    # On the Gantt track: three attempts (two failed, then the one that succeeded) and two waits.
    expect(step.locator(".gantt-bar.bar-retried")).to_have_count(2)
    expect(step.locator(".gantt-bar.bar-succeeded")).to_have_count(1)
    expect(step.locator(".gantt-bar.bar-wait")).to_have_count(2)
    step.get_by_role("button", name="Details of step load-warehouse").click()
    attempts = step.locator("tr[data-attempt]")
    expect(attempts).to_have_count(3)
    expect(attempts.nth(0)).to_contain_text("retried")
    expect(attempts.nth(0)).to_contain_text("warehouse refused the connection (attempt 1)")
    expect(attempts.nth(2)).to_contain_text("succeeded")
    expect(step.locator("tr.wait-row")).to_have_count(2)
    attempts.nth(0).get_by_text("Traceback", exact=True).click()
    expect(attempts.nth(0).locator("pre.traceback")).to_contain_text("ConnectionError")
    check_a11y(page, "the timeline with a step's attempts open")
    shot(page, "timeline")

    step.get_by_role("button", name="State diagram of load-warehouse").click()
    expect(drawer.get_by_role("tab", name="Diagrams")).to_have_attribute("aria-selected", "true")
    expect(page).to_have_url(re.compile(r"step=load-warehouse"))
    figure = drawer.locator("figure[data-step='load-warehouse']")
    expect(figure).to_have_class(re.compile("diagram-focus"))
    expect(figure.locator("[data-label='retry #2, #4']")).to_have_class(re.compile("taken"))
    expect(figure.locator("[data-label='resume #3, #5']")).to_have_class(re.compile("taken"))
    expect(figure.locator("[data-label='succeed #6']")).to_have_class(re.compile("taken"))
    expect(figure.locator("[data-label='fail']")).not_to_have_class(re.compile("taken"))
    expect(figure.locator("[data-state='succeeded']")).to_have_class(re.compile("state-now state-succeeded"))
    expect(figure.locator("[data-state='retrying']")).to_have_class(re.compile("state-visited"))
    expect(figure.locator("svg")).to_have_attribute(
        "aria-label", re.compile("went start to running, then retry to retrying")
    )
    # No label overlaps another label or a state, in any of the run's diagrams.
    for svg in drawer.locator("svg.state-diagram").all():
        boxes = [
            box
            for box in (
                rect.bounding_box()
                for rect in svg.locator(".edge-label rect, .state > rect:first-child").all()
            )
            if box
        ]
        assert boxes and overlaps(boxes) == [], f"overlapping labels in {svg.get_attribute('aria-label')}"
    shot(page, "step-diagram")


def test_a_step_waiting_to_retry_shows_live_when_its_next_attempt_is_due(
    server: UIServer, page: Page, tmp_path: Path
) -> None:
    signed_in(page, server)
    gate = tmp_path / "gate"
    run_id = start(server, "patient-import", gate=str(gate))
    page.goto(f"{server.url}/?run={run_id}")
    drawer = page.get_by_test_id("run-drawer")
    step = drawer.locator("li[data-step='load-warehouse']")
    expect(step).to_have_attribute("data-status", "running")
    expect(drawer.get_by_test_id("following")).to_be_visible()  # the run's live feed is joined
    gate.touch()
    expect(step).to_have_attribute("data-status", "retrying")
    expect(step).to_contain_text(re.compile(r"Waiting before attempt 2, due \d{4}-\d{2}-\d{2} "))
    expect(step.locator(".gantt-bar.bar-wait")).to_have_count(1)
    expect(drawer.get_by_role("status")).to_contain_text("retrying in 60 s")
    drawer.get_by_role("button", name=re.compile("^Abort patient-import run")).click()
    page.get_by_role("dialog", name="Abort this run?").get_by_role("button", name="Abort run").click()
    expect(step).to_have_attribute("data-status", "aborted")
    expect(drawer.locator(".drawer-status [data-status]")).to_have_text("aborted")
    expect(step).not_to_contain_text("Waiting before attempt")
    expect(step.locator(".gantt-bar.bar-wait")).to_have_count(1)
    expect(drawer.get_by_role("status")).to_contain_text("Run aborted")


def test_a_step_waiting_to_retry_still_shows_when_its_next_attempt_is_due_after_a_reload(
    server: UIServer, page: Page, tmp_path: Path
) -> None:
    """Issue 14: the due time is read from the stored retry row as well, so a reload (or opening the run
    during the wait) shows the same moment the live event did, not only when the wait began."""
    signed_in(page, server)
    gate = tmp_path / "gate"
    run_id = start(server, "patient-import", gate=str(gate))
    page.goto(f"{server.url}/?run={run_id}")
    drawer = page.get_by_test_id("run-drawer")
    step = drawer.locator("li[data-step='load-warehouse']")
    expect(drawer.get_by_test_id("following")).to_be_visible()
    gate.touch()
    expect(step).to_have_attribute("data-status", "retrying")
    waiting = step.locator("p", has_text="Waiting before attempt 2")
    expect(waiting).to_contain_text(re.compile(r", due \d{4}-\d{2}-\d{2} "))
    live = waiting.inner_text()
    retry = next(row for row in stored_log(server, run_id) if (row["fields"] or {}).get("trigger") == "retry")
    assert retry["fields"]["delay_seconds"] == 60 and retry["fields"]["due_at"], retry

    page.reload()
    expect(step).to_have_attribute("data-status", "retrying")
    expect(waiting).to_have_text(live)  # the same due moment, now from the stored row
    expect(waiting).not_to_contain_text("since")
    abort(server, run_id)
    assert ended(server, run_id)["status"] == "aborted"


def test_the_run_view_badges_the_step_that_ran_dry(server: UIServer, page: Page) -> None:
    """Issue 13: a step with its own `dry_run = true` carries a "dry run" badge; the other step of the
    same run does not, and the run itself is not called a dry run."""
    answer = httpx.post(
        f"{server.url}/admin/jobs/archive-orders/run", headers=server.auth("operator"), json={}, timeout=30
    )
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]
    run = httpx.get(
        f"{server.url}/admin/runs/{run_id}", params={"wait": 30}, headers=server.auth("viewer"), timeout=40
    ).json()
    assert run["status"] == "succeeded" and run["dry_run"] is False
    assert {step["name"]: step["dry_run"] for step in run["steps"]} == {
        "count-old": False,
        "delete-old": True,
    }

    signed_in(page, server)
    page.goto(f"{server.url}/?run={run_id}")
    drawer = page.get_by_test_id("run-drawer")
    dry, real = (drawer.locator(f"li[data-step='{name}']") for name in ("delete-old", "count-old"))
    expect(dry).to_have_attribute("data-status", "succeeded")
    expect(dry.get_by_test_id("step-dry-run")).to_have_text("dry run")
    expect(real.get_by_test_id("step-dry-run")).to_have_count(0)
    expect(drawer.locator(".drawer-status .tag", has_text="dry run")).to_have_count(0)
    check_a11y(page, "a run with a step that ran dry")
