"""The CLI's stdlib reader of a SQLite store (engine/store/sqlite_file.py) answers exactly as the store's
own reader (RunReader, through SQLAlchemy) on one store holding every kind of row: finished, failed,
skipped, running and dry runs, retried steps with JSON input and output, unicode, a paused job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nomaflow.engine.store import SqlStore, create_engine
from nomaflow.engine.store.job_state import save_job_state
from nomaflow.engine.store.migrate import upgrade
from nomaflow.engine.store.reads import RunReader
from nomaflow.engine.store.rows import JobState
from nomaflow.engine.store.sqlite_file import SqliteFileReader, sqlite_file
from tests.engine.store.records import T0, at, run_moved, run_record, step_moved, step_records

pytestmark = pytest.mark.anyio


async def seed(store: SqlStore) -> list[str]:
    """Runs of every kind; their ids, and one no run has."""
    failed = run_record("nightly", params={"month": "2024-02", "note": "ünïcode ✓\ttab\nline"})
    assert await store.admit(failed, step_records(failed, "extract", "load"), seq=1)
    await store.apply(
        [
            step_moved(
                failed, 0, "extract", "start", "pending", "running", seq=2, when=at(1), input={"q": 1}
            ),
            step_moved(
                failed,
                0,
                "extract",
                "succeed",
                "running",
                "succeeded",
                seq=3,
                when=at(2),
                output={"rows": [1, None]},
            ),
            step_moved(failed, 1, "load", "start", "pending", "running", seq=4, when=at(2), input={}),
            step_moved(
                failed,
                1,
                "load",
                "retry",
                "running",
                "retrying",
                seq=5,
                when=at(3),
                error="timeout",
                delay_seconds=2.0,
            ),
            step_moved(failed, 1, "load", "resume", "retrying", "running", seq=6, when=at(5), attempts=2),
            step_moved(
                failed, 1, "load", "fail", "running", "failed", seq=7, when=at(6), attempts=2, error="boom"
            ),
            run_moved(failed, "fail", "running", "failed", seq=8, when=at(6), error="step load failed: boom"),
        ]
    )
    dry = run_record("nightly", started=at(10), dry_run=True, triggered_by="cron", scheduled_for=at(10))
    assert await store.admit(dry, step_records(dry, "extract"), seq=1)
    await store.apply([run_moved(dry, "succeed", "running", "succeeded", seq=2, when=at(11))])
    running = run_record("hourly", started=at(12))
    assert await store.admit(running, [], seq=1)
    skipped = run_record(
        "hourly", started=at(13), status="skipped", finished_at=at(13), error="already running"
    )
    await store.insert_skipped(skipped, seq=1)
    return [failed.id, dry.id, running.id, skipped.id, "no-such-run"]


@pytest.fixture
async def readers(tmp_path: Path) -> AsyncIterator[tuple[RunReader, SqliteFileReader, list[str]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with SqlStore(engine) as store:
            ids = await seed(store)
        await save_job_state(
            engine, JobState(job_name="nightly", paused=True, changed_by="cli:bob", changed_at=T0)
        )
        path = sqlite_file(url)
        assert path is not None
        plain = SqliteFileReader(path)
        try:
            yield RunReader(engine), plain, ids
        finally:
            plain.close()
    finally:
        await engine.dispose()


async def test_both_readers_answer_alike(readers: tuple[RunReader, SqliteFileReader, list[str]]) -> None:
    store, plain, ids = readers
    calls: list[tuple[str, dict[str, Any]]] = [
        ("job_states", {}),
        ("list_runs", {}),
        ("list_runs", {"limit": 2}),
        ("list_runs", {"job": "nightly"}),
        ("list_runs", {"status": "skipped"}),
        ("list_runs", {"job": "hourly", "status": "running"}),
        ("list_runs", {"job": "nobody"}),
        ("last_runs_by_job", {"jobs": ["nightly", "hourly", "never-ran"]}),
        ("last_runs_by_job", {"jobs": ["nightly", "hourly"], "include_skipped": False}),
        ("last_runs_by_job", {"jobs": []}),
    ]
    for run_id in ids:
        calls += [
            ("get_run", {"run_id": run_id}),
            ("get_steps", {"run_id": run_id}),
            ("get_logs", {"run_id": run_id}),
            ("get_logs", {"run_id": run_id, "after_seq": 3, "limit": 2}),
        ]
    for method, arguments in calls:
        expected = await getattr(store, method)(**arguments)
        if method == "list_runs":  # the CLI reads one page: no cursor to the next
            expected = type(expected)(runs=expected.runs, next_cursor=None)
        assert await getattr(plain, method)(**arguments) == expected, (method, arguments)
    # Not an empty comparison: every kind of row was read.
    [failed] = (await plain.list_runs(status="failed")).runs
    assert failed.params["note"] == "ünïcode ✓\ttab\nline" and failed.started_at.tzinfo is not None
    assert [step.output for step in await plain.get_steps(failed.id)] == [{"rows": [1, None]}, None]
    assert (await plain.job_states())["nightly"].paused is True


async def test_only_plain_sqlite_file_urls_are_read_without_sqlalchemy(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite+aiosqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert sqlite_file(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert sqlite_file("sqlite:///relative.db") == Path("relative.db")
    for other in (
        "sqlite+aiosqlite:///:memory:",
        "sqlite:///file:a.db?mode=ro&uri=true",
        f"sqlite:///{tmp_path}/a.db?timeout=5",
        "postgresql://u@h/db",
        "sqlite://",
    ):
        assert sqlite_file(other) is None, other
