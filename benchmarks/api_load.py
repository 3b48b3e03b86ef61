"""Benchmark of the server: REST latency under load, POST run throughput, log-line-to-Socket.IO latency.

    .venv/bin/python benchmarks/api_load.py [--quick] [--database-url URL] [--runs 50] [--clients 50]

It starts a real `nomaflow serve` (uvicorn, one process) on a free port of 127.0.0.1, on a SQLite file in
a temporary folder unless --database-url names another store, with a generated install of 50 "chatty"
jobs (each logs a line every 50 ms until a gate file appears) and one no-op job. Then, in one run:

1. idle: p50/p99 of `GET /admin/runs?limit=50` with nothing in flight (the baseline);
2. loaded: the same while 50 runs are in flight, each writing 20 log lines a second;
3. log-to-client: 50 Socket.IO clients each in one run's room; the latency of every log line from the
   moment the step emitted it (the event's `at`) to the moment the client received it (same clock);
4. POST /admin/jobs/noop/run throughput with 8 requests in flight at once.

It prints the figures and checks its targets (benchmarks/targets.toml: loaded p99 <= 2x idle p99,
log-to-client p99 < 100 ms), and exits with 1 if one is missed. All traffic stays on 127.0.0.1; every
loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*`, run as a script

from benchmarks.harness.report import Report, say
from benchmarks.harness.server import SECRET, NomaflowServer
from benchmarks.harness.stats import percentile, ratio
from nomaflow.engine.config import load_install
from nomaflow.engine.server.auth.tokens import Role, Tokens

STEPS = """
import time
from pathlib import Path

import anyio


async def chatty(gate: str, every: float, ctx):
    count = 0
    while count % 10 or not Path(gate).exists():  # the gate is looked at every 10 lines
        ctx.log.info(f"line {count}")
        count += 1
        await anyio.sleep(every)
    return {"lines": count}


def noop(ctx):
    return {}
"""


def write_install(folder: Path, runs: int) -> Path:
    plugin = folder / "plugins" / "bench"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("", encoding="utf-8")
    (plugin / "steps.py").write_text(STEPS, encoding="utf-8")
    jobs = []
    for number in range(runs):
        jobs.append(
            f"""
[[jobs]]
name = "chatty-{number:02d}"
params = {{ gate = "/nonexistent", every = 0.05 }}
[[jobs.steps]]
name = "talk"
type = "python"
callable = "bench.steps:chatty"
kwargs = {{ gate = "${{params.gate}}", every = "${{params.every}}" }}
"""
        )
    jobs.append(
        """
[[jobs]]
name = "noop"
[[jobs.steps]]
name = "nothing"
type = "python"
callable = "bench.steps:noop"
"""
    )
    (plugin / "jobs.toml").write_text("".join(jobs), encoding="utf-8")
    app = folder / "app.toml"
    app.write_text(
        """
[jobs]
scheduler_enabled = false
shutdown_grace_seconds = 5

[auth]
secret = "${env.NOMAFLOW_BENCH_JWT_SECRET}"
""",
        encoding="utf-8",
    )
    return app


def admin_token(app: Path) -> str:
    """A two-hour admin token for the install at `app`, signed as its server will check it."""
    tokens = Tokens(load_install(app).settings.auth, {"NOMAFLOW_BENCH_JWT_SECRET": SECRET})
    return tokens.issue("bench", Role.admin, "service", timedelta(hours=2), datetime.now(UTC))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


async def timed_gets(http: httpx.AsyncClient, count: int, workers: int) -> list[float]:
    latencies: list[float] = []
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            response = await http.get("/admin/runs", params={"limit": 50})
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies


async def listen(
    server: NomaflowServer, token: str, run_ids: list[str], clients: int, seconds: float, processes: int = 1
) -> list[float]:
    """Start the listener processes, wait until all their clients have joined, let them measure."""
    groups: list[list[str]] = [[] for _ in range(processes)]
    for number in range(clients):
        groups[number % processes].append(run_ids[number % len(run_ids)])
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--listen",
            server.url,
            token,
            str(seconds),
            *group,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for group in groups
        if group
    ]
    for child in children:
        assert child.stdout is not None
        if (await child.stdout.readline()).strip() != b"ready":
            raise RuntimeError("a listener could not connect")
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    latencies: list[float] = []
    for child in children:
        output, _ = await child.communicate()
        latencies.extend(json.loads(output))
    return latencies


async def listener(url: str, token: str, seconds: float, run_ids: list[str]) -> None:
    """Child process: one client per run id; prints "ready", waits for "go", measures, prints JSON."""
    latencies: list[float] = []
    measuring = False
    clients = []
    for run_id in run_ids:
        client = socketio.AsyncClient(reconnection=False)

        async def on_line(data: dict[str, Any], run_id: str = run_id) -> None:
            received = datetime.now(UTC)
            if measuring and data.get("run_id") == run_id:
                latencies.append((received - datetime.fromisoformat(data["at"])).total_seconds())

        client.on("LogLine", on_line)
        await client.connect(url, auth={"token": token}, transports=["websocket"])
        await client.call("join", {"room": f"run:{run_id}"}, timeout=30)
        clients.append(client)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    measuring = True
    await asyncio.sleep(seconds)
    measuring = False
    for client in clients:
        await client.disconnect()
    print(json.dumps(latencies), flush=True)


async def wait_in_flight(http: httpx.AsyncClient, wanted: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await http.get("/health")).json()["in_flight"] >= wanted:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{wanted} runs never were in flight at once")


async def main(args: argparse.Namespace) -> int:
    gets = 150 if args.quick else 600
    posts = 100 if args.quick else 400
    listen_seconds = 3.0 if args.quick else 8.0
    report = Report("api_load", "api_load benchmark" + (" (--quick)" if args.quick else ""))
    with tempfile.TemporaryDirectory(prefix="nomaflow-api-load-") as temp:
        folder = Path(temp)
        app = write_install(folder, args.runs)
        database_url = args.database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        server = NomaflowServer(app, database_url, {"NOMAFLOW_BENCH_JWT_SECRET": SECRET})
        token = admin_token(app)
        gate = folder / "gate"
        try:
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                say("idle: some history to list, a warm-up, then the idle GETs")
                for _ in range(60):
                    await http.post("/admin/jobs/noop/run")
                await timed_gets(http, 50, 4)

                idle = await timed_gets(http, gets, 4)

                say(f"loaded: {args.runs} chatty runs in flight")
                run_ids = []
                for number in range(args.runs):
                    answer = await http.post(
                        f"/admin/jobs/chatty-{number:02d}/run", json={"params": {"gate": str(gate)}}
                    )
                    answer.raise_for_status()
                    run_ids.append(answer.json()["run_id"])
                await wait_in_flight(http, args.runs)
                loaded = await timed_gets(http, gets, 4)

                # Log line -> Socket.IO client: `clients` clients each in one run's room, in listener
                # processes of their own (not this one, which is busy with HTTP).
                say(f"listening: {args.clients} Socket.IO clients for {listen_seconds:g} s")
                measured = await listen(server, token, run_ids, args.clients, listen_seconds, args.listeners)

                gate.touch()
                for run_id in run_ids:
                    await http.get(f"/admin/runs/{run_id}", params={"wait": 30})

                say(f"posting: {posts} POST run, 8 at once")
                statuses: dict[str, int] = {}
                start = time.perf_counter()
                remaining = iter(range(posts))

                async def poster() -> None:
                    for _ in remaining:
                        answer = await http.post("/admin/jobs/noop/run")
                        answer.raise_for_status()
                        status = answer.json()["status"]
                        statuses[status] = statuses.get(status, 0) + 1

                await asyncio.gather(*(poster() for _ in range(8)))
                post_seconds = time.perf_counter() - start
        finally:
            gate.touch()
            server.stop()

    idle_p50, idle_p99 = percentile(idle, 50), percentile(idle, 99)
    loaded_p50, loaded_p99 = percentile(loaded, 50), percentile(loaded, 99)
    report.note(f"store {database_url.split(':')[0]}")
    report.section("figures (p50, p99)")
    report.figure(
        "GET /admin/runs?limit=50, idle", f"{ms(idle_p50)} {ms(idle_p99)}  ({gets} requests, 4 at once)"
    )
    report.figure(
        "GET /admin/runs?limit=50, loaded",
        f"{ms(loaded_p50)} {ms(loaded_p99)}  ({args.runs} runs in flight, 20 log lines/s each)",
    )
    report.figure(
        "  loaded / idle",
        f"p50 {ratio(loaded_p50, idle_p50):.2f}x, p99 {ratio(loaded_p99, idle_p99):.2f}x",
    )
    report.figure(
        "log line -> Socket.IO client",
        f"{ms(percentile(measured, 50))} {ms(percentile(measured, 99))}  "
        f"({len(measured)} deliveries to {args.clients} clients)",
    )
    report.figure(
        "POST /admin/jobs/noop/run", f"{posts / post_seconds:7.1f} requests/s  (8 at once: {statuses})"
    )
    report.section("targets")
    detail = f"{ms(loaded_p99).strip()} against {ms(idle_p99).strip()}"
    report.check("loaded_p99_ratio", ratio(loaded_p99, idle_p99), detail=detail)
    report.check("log_to_client_p99", percentile(measured, 99), detail=f"{len(measured)} deliveries")
    return report.finish()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--listen"]:
        url, token, seconds, *runs = sys.argv[2:]
        asyncio.run(listener(url, token, float(seconds), runs))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter listening")
    parser.add_argument("--database-url", help="job store URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--runs", type=int, default=50, help="runs in flight during the loaded phases")
    parser.add_argument("--clients", type=int, default=50, help="Socket.IO clients")
    parser.add_argument("--listeners", type=int, default=1, help="processes the clients are spread over")
    sys.exit(asyncio.run(main(parser.parse_args())))
