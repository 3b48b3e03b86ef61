"""Read queries: run history newest first with keyset pages and filters, and each job's latest run."""

from __future__ import annotations

from typing import Any

import pytest

from nomaflow.actors.ports import RunRecord
from nomaflow.engine.store import BadCursor, RunPage, SqlStore
from tests.engine.store.records import at, run_moved, run_record

pytestmark = pytest.mark.anyio


async def finished(store: SqlStore, run: RunRecord, status: str = "succeeded") -> None:
    assert await store.admit(run, [], seq=1)
    trigger = {"succeeded": "succeed", "failed": "fail", "aborted": "abort"}[status]
    await store.apply([run_moved(run, trigger, "running", status, seq=2, when=run.started_at)])


async def all_pages(store: SqlStore, limit: int, **filters: Any) -> list[RunPage]:
    pages = [await store.list_runs(limit=limit, **filters)]
    while (cursor := pages[-1].next_cursor) is not None:
        pages.append(await store.list_runs(limit=limit, before=cursor, **filters))
    return pages


async def test_unknown_ids_read_as_nothing(store: SqlStore) -> None:
    assert await store.get_run("no-such-run") is None
    assert await store.get_steps("no-such-run") == []
    assert await store.get_logs("no-such-run") == []
    assert await store.list_runs() == RunPage(runs=[], next_cursor=None)
    assert await store.last_runs_by_job() == {}


async def test_pages_walk_the_whole_history_newest_first_without_gaps_or_repeats(store: SqlStore) -> None:
    # Three runs share each start instant, so the id has to break the ties consistently across pages.
    runs = [run_record(f"job-{n}", started=at(n // 3)) for n in range(11)]
    for run in runs:
        await finished(store, run)

    pages = await all_pages(store, limit=4)

    assert [len(page.runs) for page in pages] == [4, 4, 3]
    listed = [row.id for page in pages for row in page.runs]
    expected = sorted(runs, key=lambda run: (run.started_at, run.id), reverse=True)
    assert listed == [run.id for run in expected]


async def test_a_page_that_exactly_ends_the_history_has_no_cursor(store: SqlStore) -> None:
    for n in range(4):
        await finished(store, run_record(f"job-{n}", started=at(n)))
    page = await store.list_runs(limit=4)
    assert len(page.runs) == 4 and page.next_cursor is None


async def test_filters_combine_with_pagination(store: SqlStore) -> None:
    for n in range(6):
        await finished(store, run_record("nightly", started=at(n)), "failed" if n % 2 else "succeeded")
        await finished(store, run_record("hourly", started=at(n), triggered_by="cron"))
    await store.admit(run_record("nightly", started=at(10)), [], seq=1)

    failed = [row for page in await all_pages(store, 2, job="nightly", status="failed") for row in page.runs]
    assert [row.started_at for row in failed] == [at(5), at(3), at(1)]
    assert {(row.job_name, row.status) for row in failed} == {("nightly", "failed")}

    by_cron = await store.list_runs(triggered_by="cron", limit=50)
    assert len(by_cron.runs) == 6 and {row.job_name for row in by_cron.runs} == {"hourly"}

    window = await store.list_runs(job="nightly", since=at(2), until=at(5))
    assert [row.started_at for row in window.runs] == [at(4), at(3), at(2)]

    running = await store.list_runs(status="running")
    assert [(row.job_name, row.started_at) for row in running.runs] == [("nightly", at(10))]


async def test_a_foreign_cursor_is_refused(store: SqlStore) -> None:
    for bad in ("not a cursor", "WzEsMl0", ""):
        with pytest.raises(BadCursor):
            await store.list_runs(before=bad)
    with pytest.raises(ValueError, match="limit"):
        await store.list_runs(limit=0)


async def test_last_runs_by_job_gives_each_jobs_newest_run(store: SqlStore) -> None:
    await finished(store, run_record("nightly", started=at(1)))
    await finished(store, run_record("nightly", started=at(2)), "failed")
    await finished(store, run_record("hourly", started=at(3)))
    running = run_record("hourly", started=at(4))
    await store.admit(running, [], seq=1)
    await store.admit(run_record("hourly", started=at(5)), [], seq=1)  # skipped: hourly is running

    latest = await store.last_runs_by_job()
    assert {job: (row.status, row.started_at) for job, row in latest.items()} == {
        "nightly": ("failed", at(2)),
        "hourly": ("skipped", at(5)),
    }
    latest = await store.last_runs_by_job(include_skipped=False)
    assert latest["hourly"].id == running.id and latest["hourly"].status == "running"


async def test_last_runs_of_named_jobs_match_the_ranking_of_all_runs(store: SqlStore) -> None:
    for job, minutes in (("a", 1), ("a", 5), ("b", 3), ("c", 2), ("c", 9)):
        await store.admit(run_record(job, started=at(minutes)), [], seq=1)
    ranked = await store.last_runs_by_job()
    looked_up = await store.last_runs_by_job(jobs=["a", "b", "c", "never-ran"])
    assert looked_up == ranked
    assert set(looked_up) == {"a", "b", "c"}
    assert await store.last_runs_by_job(jobs=[]) == {}
    assert await store.last_runs_by_job(jobs=["b"], include_skipped=False) == {
        k: v for k, v in (await store.last_runs_by_job(include_skipped=False)).items() if k == "b"
    }
