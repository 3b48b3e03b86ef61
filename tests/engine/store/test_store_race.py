"""Two engine processes sharing one database: each has its own engine and store, as two processes
would, and the database alone decides who runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import pytest

from nomaflow.actors.ports import RunRecord
from nomaflow.engine.store import SqlStore, create_engine
from tests.engine.store.records import at, run_moved, run_record, step_records

pytestmark = pytest.mark.anyio


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    async with AsyncExitStack() as stack:
        stores = []
        for _ in range(2):
            engine = create_engine(database_url)
            stack.push_async_callback(engine.dispose)
            stores.append(await stack.enter_async_context(SqlStore(engine)))
        yield stores[0], stores[1]


async def test_racing_engines_admit_one_run_of_a_job(two_stores: tuple[SqlStore, SqlStore]) -> None:
    outcomes: list[tuple[RunRecord, bool]] = []

    async def dispatch(store: SqlStore, n: int) -> None:
        run = run_record("nightly", started=at(n), owner=f"engine-{id(store)}")
        outcomes.append((run, await store.admit(run, step_records(run, "a", "b"), seq=1)))

    async with anyio.create_task_group() as group:
        for n in range(10):
            for store in two_stores:
                group.start_soon(dispatch, store, n)

    admitted = [run for run, ok in outcomes if ok]
    assert len(admitted) == 1 and len(outcomes) == 20
    page = await two_stores[0].list_runs(job="nightly", limit=100)
    assert sorted(row.status for row in page.runs) == ["running"] + ["skipped"] * 19
    assert len(await two_stores[1].get_steps(admitted[0].id)) == 2


async def test_rounds_of_racing_engines_never_overlap_a_job(two_stores: tuple[SqlStore, SqlStore]) -> None:
    first, second = two_stores
    results: dict[str, bool] = {}

    async def admit(store: SqlStore, run: RunRecord) -> None:
        results[run.id] = await store.admit(run, [], seq=1)

    for round_ in range(5):
        runs = [run_record("nightly", started=at(round_)) for _ in two_stores]
        async with anyio.create_task_group() as group:
            group.start_soon(admit, first, runs[0])
            group.start_soon(admit, second, runs[1])

        [winner] = [run for run in runs if results[run.id]]
        await second.apply([run_moved(winner, "succeed", "running", "succeeded", seq=2, when=at(round_))])

    statuses = [row.status for row in (await first.list_runs(job="nightly")).runs]
    assert sorted(statuses) == ["skipped"] * 5 + ["succeeded"] * 5


async def test_racing_engines_run_a_cron_fire_once(two_stores: tuple[SqlStore, SqlStore]) -> None:
    fire = at(-1)
    runs = [run_record("nightly", triggered_by="cron", scheduled_for=fire) for _ in two_stores]
    results: list[bool] = []

    async def admit(store: SqlStore, run: RunRecord) -> None:
        results.append(await store.admit(run, [], seq=1))

    async with anyio.create_task_group() as group:
        for store, run in zip(two_stores, runs, strict=True):
            group.start_soon(admit, store, run)

    assert sorted(results) == [False, True]
    rows = (await two_stores[0].list_runs(job="nightly")).runs
    assert sorted((row.status, row.scheduled_for) for row in rows) == [("running", fire), ("skipped", None)]


async def test_a_move_made_by_the_other_engine_is_stale(two_stores: tuple[SqlStore, SqlStore]) -> None:
    first, second = two_stores
    run = run_record("nightly")
    await first.admit(run, [], seq=1)
    await second.apply([run_moved(run, "abort", "running", "aborted", seq=2, when=at(1))])

    with pytest.raises(Exception, match="it is 'aborted'"):
        await first.apply([run_moved(run, "succeed", "running", "succeeded", seq=2, when=at(1))])
