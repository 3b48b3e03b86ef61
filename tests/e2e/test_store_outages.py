"""A real `nomaflow serve` and a job store that goes away: a PostgreSQL of the test's own stopped for 20 s
under a per-second cron job and REST load (then stopped again for SIGTERM), a read-only SQLite store at
start-up, and SIGTERM with a step that ignores cancellation. Real processes, real time: the outage's
20 s are paced by the REST load itself, never by sleeping."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest

from nomaflow.engine.store import upgrade
from tests.conftest import SmallDisk
from tests.e2e.postgres import ThrowawayPostgres
from tests.engine.server.processes import Server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

INSTALL = Path(__file__).parent / "outage" / "app.toml"
OUTAGE_SECONDS = 20.0
AFTER_SECONDS = 10.0
# The stop: grace (2 s) + at most three margins of 3 s, and the interpreter's own end.
STOP_BOUND_SECONDS = 2 + 3 * 3 + 3


def _health(http: httpx.Client) -> dict[str, Any]:
    answer = http.get("/health")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _load(http: httpx.Client, server: Server, until: float, seen: Counter[int], health: Counter[str]) -> None:
    """REST triggers, reads and health checks, one after the other, until `until` (time.monotonic)."""
    while time.monotonic() < until:
        answer = http.post("/admin/jobs/load/run", headers=server.auth("operator"), json={})
        read = http.get("/admin/runs", params={"job": "load"}, headers=server.auth("viewer"))
        for done, ok in ((answer, 202), (read, 200)):
            seen[done.status_code] += 1
            if done.status_code == 503:
                assert int(done.headers["retry-after"]) >= 1
                assert "job store is unavailable" in done.json()["detail"]
            else:
                assert done.status_code == ok, done.text
        health[_health(http)["status"]] += 1


@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_a_postgresql_outage_under_cron_and_rest_load_is_waited_out_and_resolved(
    own_postgres: ThrowawayPostgres,
) -> None:
    pg = own_postgres
    admin = await asyncpg.connect(pg.url())
    await admin.execute("CREATE DATABASE outage")
    await admin.close()
    await upgrade(pg.url("outage"))
    server = Server(INSTALL, pg.url("outage"))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            server.output.wait_for("run of tick succeeded")
            assert _health(http)["status"] == "ok"

            pg.stop("fast")
            stopped = time.time()
            codes: Counter[int] = Counter()
            health: Counter[str] = Counter()
            _load(http, server, time.monotonic() + OUTAGE_SECONDS, codes, health)
            during = _health(http)
            assert during["status"] == "degraded" and during["store"]["status"] == "degraded"
            assert during["store"]["since"] and during["store"]["reason"]
            metrics = http.get("/metrics").text
            assert "nomaflow_store_degraded 1.0" in metrics

            mark = len(server.output.lines)
            pg.start()
            restarted = time.time()
            server.output.wait_for("the job store is available again", start=mark)
            server.output.wait_for("catching up job tick", start=mark)
            recovered = time.time()
            after_codes: Counter[int] = Counter()
            after_health: Counter[str] = Counter()
            _load(http, server, time.monotonic() + AFTER_SECONDS, after_codes, after_health)
            assert _health(http)["status"] == "ok"
            assert "nomaflow_store_degraded 0.0" in http.get("/metrics").text

        # During the outage: degraded, triggers refused with Retry-After (never a 500).
        assert health["degraded"] >= 1 and codes[503] >= 1 and set(codes) <= {200, 202, 503}, (codes, health)
        # After it: ok again by itself, triggers and reads served.
        assert set(after_health) == {"ok"} and after_codes[202] >= 1 and set(after_codes) == {200, 202}

        # The store down again, then SIGTERM: the stop gives up on it within its bound.
        mark = len(server.output.lines)
        pg.stop("fast")
        server.output.wait_for("the job store is unavailable", start=mark)
        second_outage = time.time()
        begun = time.monotonic()
        server.process.terminate()
        code = server.process.wait(timeout=60)
        took = time.monotonic() - begun
        assert code == -signal.SIGTERM and took < STOP_BOUND_SECONDS, (code, took, server.output.lines[-40:])
    finally:
        output = server.stop()
        if not pg.running():
            pg.start()

    connection = await asyncpg.connect(pg.url("outage"))
    try:
        # What the last stop could not record is ended by crash recovery, as any engine would.
        rows = await connection.fetch(
            "SELECT id, job_name, status, scheduled_for, started_at FROM ly2_job_runs ORDER BY started_at"
        )
    finally:
        await connection.close()
    left = [
        row for row in rows if row["status"] == "running" and row["started_at"].timestamp() < second_outage
    ]
    assert left == [], left
    assert "Traceback" not in output.split("the job store is unavailable")[0]
    fires = [row["scheduled_for"] for row in rows if row["job_name"] == "tick" and row["scheduled_for"]]
    duplicates = [fire for fire, count in Counter(fires).items() if count > 1]
    assert duplicates == []
    # Every second after the recovery (its catch-up run on) fired exactly once, until the second outage.
    after = sorted(
        row["scheduled_for"]
        for row in rows
        if row["job_name"] == "tick"
        and row["scheduled_for"] is not None
        and row["started_at"].timestamp() >= restarted
        and row["scheduled_for"].timestamp() < second_outage - 1
    )
    assert len(after) >= AFTER_SECONDS - 2, after
    first, last = after[0], after[-1]
    expected = {first + timedelta(seconds=n) for n in range(int((last - first).total_seconds()) + 1)}
    assert sorted(expected - set(after)) == [] and len(after) == len(expected)
    # Nothing of the outage was run as if the store had been there: no fire between the stop and
    # the restart but the catch-up's one.
    stray = [fire for fire in fires if stopped + 1 < fire.timestamp() < restarted and fire not in set(after)]
    assert stray == [], stray
    print(
        f"outage {restarted - stopped:.1f} s; ok again {recovered - restarted:.1f} s after the restart; "
        f"503s during it: {codes[503]}; SIGTERM with the store down took {took:.1f} s"
    )


def test_serve_on_a_read_only_sqlite_store_exits_with_one_clear_paragraph(small_disk: SmallDisk) -> None:
    url = f"sqlite+aiosqlite:///{small_disk.path / 'nomaflow.db'}"
    anyio.run(upgrade, url)
    small_disk.read_only()
    try:
        server = Server(INSTALL, url, wait=False)
        code = server.process.wait(timeout=60)
        output = server.stop()
    finally:
        small_disk.read_only(False)
    assert code == 1, output
    assert f"error: the job store {small_disk.path / 'nomaflow.db'} cannot be written" in output
    assert "Traceback" not in output and "ExceptionGroup" not in output
    assert "Uvicorn running" not in output


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_within_its_bound_despite_a_step_that_ignores_cancellation(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    server = Server(INSTALL, f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}")
    gate = tmp_path / "never"
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answer = http.post(
                "/admin/jobs/stubborn/run",
                headers=server.auth("operator"),
                json={"params": {"gate": str(gate)}},
            )
            assert answer.status_code == 202, answer.text
            server.output.wait_for(f"waiting for {gate}")
        begun = time.monotonic()
        server.process.send_signal(stop_signal)
        code = server.process.wait(timeout=60)
        took = time.monotonic() - begun
        output = server.stop()
    finally:
        gate.touch()
        server.stop()
    # SIGTERM: uvicorn raises it again once it has stopped, so the process ends by it. SIGINT: serve
    # ends itself, past the thread it cannot wait for.
    assert code == (-signal.SIGTERM if stop_signal == signal.SIGTERM else 0), output
    assert took < STOP_BOUND_SECONDS, (took, output)
    assert "run of stubborn aborted" in output and "grace period of 2 s ran out" in output
    assert "Traceback" not in output
    if stop_signal == signal.SIGINT:
        assert "exiting without waiting for them" in output
