"""Benchmark of the web UI: how long the Runs page takes to show its first page with a large history.

    .venv/bin/python benchmarks/ui_runs_page.py [--runs 1000000] [--repeats 7]

It makes a SQLite job store in a temporary folder (the schema by the project's migrations), seeds
`--runs` finished runs in one INSERT ... SELECT over a recursive CTE, starts a real `nomaflow serve` on a
free port of 127.0.0.1, and opens /runs in Debian's Chromium (Playwright, /usr/bin/chromium) already
signed in. Each load is timed from navigation start to the moment the table holds its first page (the
`nomaflow:runs-rendered` mark the page sets once the rows are in the DOM). The first load is cold (no
cached assets); the others reuse the browser's cache, as an operator's browser would. For comparison it
also times the API call alone (`GET /admin/runs?limit=50`). Target (benchmarks/targets.toml): the
first page in under 1 s on every load; it exits with 1 if a load misses it.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*`, run as a script

from benchmarks.harness import browser
from benchmarks.harness.report import Report, say
from benchmarks.harness.server import NomaflowServer
from benchmarks.harness.stats import median
from nomaflow.engine.store.migrate import upgrade

PAGE_SIZE = 50  # what the Runs page asks for
JOBS = ("nightly-etl", "hourly-sync", "ldap-import", "report-send")
JOB = """
[[jobs]]
name = "{name}"

[[jobs.steps]]
name = "work"
type = "python"
callable = "benchjobs.steps:work"
"""


def seed(database: Path, runs: int) -> float:
    """`runs` finished runs, one every 30 s back from now, over four jobs and every final status.
    Timestamps are written as SQLAlchemy writes them on SQLite (UTC, 'YYYY-MM-DD HH:MM:SS.ffffff')."""
    newest = int(datetime.now(UTC).timestamp())
    started = time.perf_counter()
    with sqlite3.connect(database) as connection:
        connection.execute(
            """
            INSERT INTO ly2_job_runs (id, job_name, app, status, triggered_by, params, dry_run,
                                      scheduled_for, started_at, finished_at, error, owner)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :runs)
            SELECT printf('%08x-0000-4000-8000-%012x', i, i),
                   CASE i % 4 WHEN 0 THEN 'nightly-etl' WHEN 1 THEN 'hourly-sync'
                              WHEN 2 THEN 'ldap-import' ELSE 'report-send' END,
                   'benchjobs',
                   CASE WHEN i % 97 = 0 THEN 'failed' WHEN i % 89 = 0 THEN 'aborted'
                        WHEN i % 83 = 0 THEN 'skipped' ELSE 'succeeded' END,
                   CASE WHEN i % 10 = 0 THEN 'user:alice' WHEN i % 7 = 0 THEN 'api' ELSE 'cron' END,
                   '{"region": "all"}',
                   0,
                   NULL,
                   strftime('%Y-%m-%d %H:%M:%S', :newest - i * 30, 'unixepoch') || '.000000',
                   strftime('%Y-%m-%d %H:%M:%S', :newest - i * 30 + 12, 'unixepoch') || '.000000',
                   CASE WHEN i % 97 = 0 THEN 'step work failed: connection reset' END,
                   'bench'
            FROM n
            """,
            {"runs": runs, "newest": newest},
        )
        connection.execute("ANALYZE")
    return time.perf_counter() - started


def summary(values: list[float]) -> str:
    spread = f"min {min(values):7.1f}   max {max(values):7.1f}"
    return f"median {median(values):7.1f} ms   {spread}   (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7, help="page loads to time")
    args = parser.parse_args()
    browser.require_built_ui()
    report = Report("ui_runs_page", f"ui_runs_page benchmark: {args.runs:,} runs, SQLite, Chromium headless")

    with tempfile.TemporaryDirectory(prefix="nomaflow-ui-bench-") as tmp:
        folder = Path(tmp)
        app_toml = browser.write_install(folder / "install", "".join(JOB.format(name=name) for name in JOBS))
        database = folder / "nomaflow.db"
        asyncio.run(upgrade(f"sqlite+aiosqlite:///{database}"))
        say(f"seeding {args.runs:,} runs")
        seconds = seed(database, args.runs)
        size = database.stat().st_size / 1e6
        seeded = f"{seconds:.1f} s ({args.runs / seconds:,.0f} rows/s, {size:,.0f} MB)"

        server = NomaflowServer(app_toml, f"sqlite+aiosqlite:///{database}", browser.SERVER_ENVIRONMENT)
        try:
            token = browser.sign_in(server.url)
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            api_ms = []
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    page = http.get("/admin/runs", params={"limit": PAGE_SIZE})
                    api_ms.append((time.perf_counter() - started) * 1000)
                    page.raise_for_status()
                    assert len(page.json()["runs"]) == PAGE_SIZE

            say(f"{args.repeats} loads of the Runs page")
            page_ms = []
            with sync_playwright() as playwright:
                chromium = browser.launch(playwright)
                context = browser.signed_in_context(chromium, token)
                for _ in range(args.repeats):
                    tab = context.new_page()
                    tab.goto(f"{server.url}/runs")
                    rows = tab.locator("[data-testid=runs-table] tbody tr")
                    rows.nth(PAGE_SIZE - 1).wait_for(timeout=30_000)
                    mark = tab.evaluate("performance.getEntriesByName('nomaflow:runs-rendered')[0].startTime")
                    page_ms.append(float(mark))
                    # Let the page finish loading (the job filter's choices come after the first page),
                    # so that no request of this load is still being served during the next one.
                    tab.locator("select[name=job] option").nth(len(JOBS)).wait_for(state="attached")
                    tab.close()
                chromium.close()
        finally:
            server.stop()

    report.section("figures")
    report.figure(f"seeding {args.runs:,} runs", seeded)
    report.figure(f"API GET /admin/runs?limit={PAGE_SIZE}", summary(api_ms))
    report.figure("Runs page, cold (first load)", f"{page_ms[0]:7.1f} ms")
    report.figure("Runs page, warm (cached assets)", summary(page_ms[1:] or page_ms))
    report.section("targets")
    report.check("slowest_load", max(page_ms) / 1000, detail=f"of {len(page_ms)} loads")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
