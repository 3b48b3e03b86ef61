"""Benchmark of the web UI's log viewer: frames while scrolling, searching and filtering a run's log.

    .venv/bin/python benchmarks/ui_log_viewer.py [--lines 100000] [--baseline 1000]

It makes a SQLite job store in a temporary folder (the schema by the project's migrations) and seeds two
finished runs of a three-step job: one with `--lines` log lines, one with `--baseline` lines, both with
their transitions, a mix of levels and steps, and a traceback now and then. It starts a real
`nomaflow serve`, opens each run's Log tab in Debian's Chromium (Playwright, /usr/bin/chromium), waits
until the whole log is read, then measures the page's frames (the gaps between animation frames, and
Chrome's long-animation-frame entries) during:

- scroll: 300 frames of flinging down (400 px a frame), then 100 frames each jumping to a random spot;
- search: typing a 10-character query a key at a time, then stepping through 20 matches;
- filter: level (warning, error, all), step (each, all) and the state-changes switch;

each `--repeats` times (3 by default).

Target: no frame over 100 ms at 100,000 lines. The small run is the baseline measured in the same
session: the ratios say what the size of the log costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nomaflow.engine.server.auth import hash_password  # noqa: E402
from nomaflow.engine.store.migrate import upgrade  # noqa: E402

NOMAFLOW = str(Path(sys.executable).parent / "nomaflow")
SECRET = "bench-secret-" + "b" * 40
PASSWORD = "bench-password"
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
TARGET_MS = 100.0
STEPS = ("extract", "transform", "load")

APP_TOML = """\
[jobs]
scheduler_enabled = false
timezone = "UTC"

[auth]
secret = "${{env.NOMAFLOW_JWT_SECRET}}"

[auth.users.bench]
password_hash = "{hash}"
role = "operator"
"""
JOB = """
[[jobs]]
name = "warehouse-sync"
""" + "".join(
    f"""
[[jobs.steps]]
name = "{step}"
type = "python"
callable = "benchjobs.steps:work"
"""
    for step in STEPS
)

# Frame watching, in the page: the gap between animation frames, and Chrome's long-animation-frame
# entries (a frame whose work took over 50 ms), from `reset` to `read`.
FRAMES_JS = """
window.benchFrames = { gaps: [], long: [], last: performance.now() };
const tick = (now) => {
  const frames = window.benchFrames;
  frames.gaps.push(now - frames.last);
  frames.last = now;
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.benchFrames.long.push(entry.duration);
  }).observe({ type: "long-animation-frame" });
} catch {}
"""
RESET_JS = "() => { const f = window.benchFrames; f.gaps = []; f.long = []; f.last = performance.now(); }"
READ_JS = "() => ({ gaps: window.benchFrames.gaps.slice(1), long: window.benchFrames.long.slice() })"
SCROLL_JS = """
async () => {
  const scroller = document.querySelector("[data-testid=log-tail]");
  scroller.scrollTop = 0;
  const frame = () => new Promise((done) => requestAnimationFrame(done));
  for (let i = 0; i < 300; i += 1) { scroller.scrollTop += 400; await frame(); }
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 100; i += 1) {
    scroller.scrollTop = random() * (scroller.scrollHeight - scroller.clientHeight);
    await frame();
  }
  await frame();
  await frame();
}
"""


def write_install(folder: Path) -> Path:
    plugin = folder / "plugins" / "benchjobs"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "steps.py").write_text("def work(ctx):\n    return {}\n")
    (plugin / "jobs.toml").write_text(JOB)
    app = folder / "app.toml"
    app.write_text(APP_TOML.format(hash=hash_password(PASSWORD)))
    return app


def seed_run(connection: sqlite3.Connection, run_id: str, lines: int, start: int) -> None:
    """A finished run: its row, its three steps, and `lines` log rows between their transitions.
    Times are written as SQLAlchemy writes them on SQLite (UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'); the
    run takes one second per 1,000 lines."""

    def at(ms: int) -> str:
        moment = datetime.fromtimestamp((start * 1000 + ms) / 1000, UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    per_step = lines // len(STEPS)
    finished = lines + 10
    connection.execute(
        "INSERT INTO ly2_job_runs (id, job_name, app, status, triggered_by, params, dry_run, started_at,"
        " finished_at, owner) VALUES (?, 'warehouse-sync', 'benchjobs', 'succeeded', 'cron', '{}', 0, ?, ?,"
        " 'bench')",
        (run_id, at(0), at(finished)),
    )
    transitions: list[tuple[Any, ...]] = []

    def transition(seq: int, ms: int, step: str | None, trigger: str, source: str, dest: str) -> None:
        fields: dict[str, Any] = {"event": "transition", "machine": "run" if step is None else "step"}
        fields |= {"step": step, "trigger": trigger, "source": source, "dest": dest}
        fields["attempt"] = None if step is None else 1
        subject = "run" if step is None else f"step '{step}'"
        message = f"{subject}: {source} -> {dest} ({trigger})"
        transitions.append((run_id, seq, step, at(ms), "info", message, json.dumps(fields)))

    transition(1, 0, None, "admit", "pending", "running")
    seq = 2
    for position, step in enumerate(STEPS):
        first = position * per_step
        connection.execute(
            "INSERT INTO ly2_step_runs (run_id, position, step_name, type, status, attempts, started_at,"
            " finished_at, input, output) VALUES (?, ?, ?, 'python', 'succeeded', 1, ?, ?, '{}', '{}')",
            (run_id, position, step, at(first + 1), at(first + per_step + 2)),
        )
        transition(seq, first + 1, step, "start", "pending", "running")
        # This step's lines: seq numbers seq+1 .. seq+per_step, one millisecond apart.
        connection.execute(
            """
            INSERT INTO ly2_job_logs (run_id, seq, step_name, ts, level, message, fields)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
            SELECT :run, :seq + i, :step,
                   strftime('%Y-%m-%d %H:%M:%f', (:start * 1000 + :first + i) / 1000.0, 'unixepoch') || '000',
                   CASE WHEN i % 97 = 0 THEN 'error' WHEN i % 13 = 0 THEN 'warning'
                        WHEN i % 7 = 0 THEN 'debug' ELSE 'info' END,
                   CASE WHEN i % 97 = 0 THEN 'batch ' || (:first + i) || ' failed: connection reset by peer'
                        WHEN i % 13 = 0 THEN 'batch ' || (:first + i) || ' slow: ' || (i % 5000) || ' ms'
                        ELSE 'processed batch ' || (:first + i) || ' of ' || :lines || ' (rows=' || (i % 977)
                             || ', bytes=' || (i * 37 % 100003) || ')' END,
                   CASE WHEN i % 97 = 0 THEN json_object('traceback',
                        'Traceback (most recent call last):' || char(10) || '  File "steps.py", line 12'
                        || char(10) || 'ConnectionResetError: connection reset by peer') END
            FROM n
            """,
            {
                "count": per_step,
                "run": run_id,
                "seq": seq,
                "step": step,
                "start": start,
                "first": first,
                "lines": lines,
            },
        )
        seq += per_step + 1
        transition(seq, first + per_step + 2, step, "succeed", "running", "succeeded")
        seq += 1
    transition(seq, finished, None, "succeed", "running", "succeeded")
    connection.executemany(
        "INSERT INTO ly2_job_logs (run_id, seq, step_name, ts, level, message, fields)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        transitions,
    )


class Server:
    def __init__(self, app_toml: Path, database: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "NOMAFLOW_CONFIG": str(app_toml),
            "NOMAFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "NOMAFLOW_JWT_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [NOMAFLOW, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if "Uvicorn running on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(120) or self.process.poll() is not None:
            raise SystemExit("nomaflow serve did not start:\n" + "".join(self.lines[-40:]))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Frames:
    """What one action cost, in frames."""

    def __init__(self, name: str, measured: dict[str, list[float]]) -> None:
        self.name = name
        self.gaps = measured["gaps"] or [0.0]
        self.long = measured["long"]
        self.rounds: list[float] = []  # the worst frame of each round

    @property
    def worst(self) -> float:
        return max(max(self.gaps), max(self.long, default=0.0))

    def line(self) -> str:
        gaps = sorted(self.gaps)
        p95 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.95))]
        longest = f"{max(self.long):6.1f} ms" if self.long else "  none"
        return (
            f"{self.name:<8} frames {len(self.gaps):4}   median {statistics.median(gaps):5.1f} ms   "
            f"p95 {p95:5.1f} ms   max {max(gaps):6.1f} ms   "
            f"long frames {len(self.long):3} (longest {longest})   "
            f"worst per round: {', '.join(f'{worst:.0f}' for worst in self.rounds)} ms"
        )


def measure(page: Page, name: str, action: Any) -> Frames:
    page.evaluate(RESET_JS)
    action()
    # Two more frames, so the frame that shows the action's last change is counted.
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return Frames(name, page.evaluate(READ_JS))


def exercise(
    page: Page, base_url: str, run_id: str, lines: int, repeats: int
) -> tuple[float, float, list[Frames]]:
    """Open the run's log; (seconds to the first lines, seconds to the whole log, each action's frames
    over `repeats` rounds)."""
    started = time.perf_counter()
    page.goto(f"{base_url}/?run={run_id}&tab=log")
    viewer = page.get_by_test_id("log-viewer")
    viewer.locator(".log-line").first.wait_for(timeout=60_000)
    first = time.perf_counter() - started
    count = page.get_by_test_id("log-count")
    total = lines // len(STEPS) * len(STEPS) + 2 + 2 * len(STEPS)  # the lines, and the transitions
    whole = f"{total:,} of {total:,} lines"
    page.wait_for_function(
        "([element, text]) => element.textContent === text",
        arg=[count.element_handle(), whole],
        timeout=300_000,
    )
    read = time.perf_counter() - started
    page.evaluate(FRAMES_JS)
    search = page.get_by_label("Search the log")

    def scroll() -> None:
        page.evaluate(SCROLL_JS)

    def find() -> None:
        search.click()
        page.keyboard.type("batch 4242", delay=60)
        for _ in range(20):
            page.keyboard.press("Enter")
        search.fill("")

    def filter_() -> None:
        for level in ("warning", "error", ""):
            page.get_by_label("Level").select_option(level)
        for step in (*STEPS, ""):
            page.get_by_label("Step").select_option(step)
        page.get_by_label("State changes").uncheck()
        page.get_by_label("State changes").check()

    actions = (("scroll", scroll), ("search", find), ("filter", filter_))
    rounds = [[measure(page, name, action) for name, action in actions] for _ in range(repeats)]
    results = []
    for index, (name, _) in enumerate(actions):
        runs = [round_[index] for round_ in rounds]
        total = Frames(
            name, {"gaps": [g for r in runs for g in r.gaps], "long": [x for r in runs for x in r.long]}
        )
        total.rounds = [r.worst for r in runs]
        results.append(total)
    return first, read, results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the three actions per log")
    args = parser.parse_args()
    if not (ROOT / "engine" / "server" / "static" / "index.html").exists():
        raise SystemExit("the UI is not built: run scripts/setup.sh (or npm ci && npm run build in ui/)")

    big, small = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    with tempfile.TemporaryDirectory(prefix="nomaflow-log-bench-") as tmp:
        folder = Path(tmp)
        app_toml = write_install(folder / "install")
        database = folder / "nomaflow.db"
        asyncio.run(upgrade(f"sqlite+aiosqlite:///{database}"))
        now = int(time.time())
        with sqlite3.connect(database) as connection:
            seed_run(connection, big, args.lines, now - 3600)
            seed_run(connection, small, args.baseline, now - 1800)

        server = Server(app_toml, database)
        try:
            login = httpx.post(
                f"{server.url}/admin/login", json={"username": "bench", "password": PASSWORD}, timeout=30
            )
            login.raise_for_status()
            token = login.json()
            session = {key: token[key] for key in ("subject", "role", "expires_at")}
            session["token"] = token["access_token"]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 860}, timezone_id="UTC")
                stored = json.dumps(json.dumps(session))  # a JS string literal holding the JSON
                context.add_init_script(f"localStorage.setItem('nomaflow.session', {stored})")
                measured = {}
                for run_id, lines in ((small, args.baseline), (big, args.lines)):
                    page = context.new_page()
                    measured[lines] = exercise(page, server.url, run_id, lines, args.repeats)
                    page.close()
                browser.close()
        finally:
            server.stop()

    for lines, (first, read, frames) in measured.items():
        print(
            f"log of {lines:,} lines: first lines shown in {first:.2f} s, the whole log read in {read:.2f} s"
        )
        for item in frames:
            print("  " + item.line())
    _, _, base = measured[args.baseline]
    _, _, large = measured[args.lines]
    for small_frames, large_frames in zip(base, large, strict=True):
        ratio = large_frames.worst / max(small_frames.worst, 1e-9)
        print(
            f"{large_frames.name:<8} worst frame {large_frames.worst:6.1f} ms at {args.lines:,} lines vs "
            f"{small_frames.worst:6.1f} ms at {args.baseline:,}: x{ratio:.2f}"
        )
    worst = max(item.worst for item in large)
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(f"worst frame at {args.lines:,} lines: {worst:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    print(f"({datetime.now(UTC):%Y-%m-%d}, SQLite, Chromium headless)")


if __name__ == "__main__":
    main()
