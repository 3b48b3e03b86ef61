"""Group commit: concurrent writers share transactions, and one writer's failure stays its own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from nomaflow.actors.events import LogLine
from nomaflow.actors.ports import RunRecord, StaleState
from nomaflow.engine.store import SqlStore, StoreClosed, create_engine
from nomaflow.engine.store.writes import Write
from tests.engine.store.records import at, run_moved, run_record, step_moved, step_records

pytestmark = pytest.mark.anyio

# At most this many groups are in flight at once (two on PostgreSQL), so concurrent writers that
# queued together land in at most this many groups.
COMMITTERS = 2


@contextmanager
def counting_commits(store: SqlStore) -> Iterator[list[int]]:
    """Counts the groups the common path committed, by wrapping it: independent of the store's own
    counters, which count attempts too."""
    commits = [0]
    writer = store._writer
    batch = writer._batch

    class Counting:
        async def __call__(self, writes: Sequence[Write]) -> list[Any]:
            results = await batch(writes)
            commits[0] += 1
            return results

        async def aclose(self) -> None:
            await batch.aclose()

    writer._batch = Counting()
    try:
        yield commits
    finally:
        writer._batch = batch


async def test_many_concurrent_writers_share_a_few_transactions(store: SqlStore) -> None:
    runs = [run_record(f"job-{n}") for n in range(200)]
    admitted: list[bool] = []

    async def admit_and_start(run: RunRecord) -> None:
        admitted.append(await store.admit(run, step_records(run, "only"), seq=1))
        await store.apply([step_moved(run, 0, "only", "start", "pending", "running", seq=2, when=at(1))])

    with counting_commits(store) as commits:
        async with anyio.create_task_group() as group:
            for run in runs:
                group.start_soon(admit_and_start, run)

    assert admitted == [True] * 200
    assert store.stats.writes == 400
    assert store.stats.transactions == commits[0]
    assert commits[0] <= 20, f"{commits[0]} commits for 400 writes: group commit is not grouping"
    page = await store.list_runs(status="running", limit=1000)
    assert len(page.runs) == 200
    steps = [step for run in runs for step in await store.get_steps(run.id)]
    assert {step.status for step in steps} == {"running"}


async def test_a_lone_writer_waits_for_just_its_own_transaction(store: SqlStore) -> None:
    with counting_commits(store) as commits:
        for n in range(3):
            await store.admit(run_record(f"job-{n}"), [], seq=1)
    assert commits[0] == 3 and store.stats.transactions == 3


async def test_a_stale_change_fails_only_its_own_caller(store: SqlStore) -> None:
    runs = [run_record(f"job-{n}") for n in range(50)]
    for run in runs:
        await store.admit(run, [], seq=1)
    stale = runs[17]
    outcomes: dict[str, BaseException | None] = {}

    async def finish(run: RunRecord) -> None:
        source = "aborted" if run is stale else "running"  # the stale one expects the wrong state
        try:
            await store.apply([run_moved(run, "succeed", source, "succeeded", seq=2, when=at(1))])
        except StaleState as exc:
            outcomes[run.id] = exc
        else:
            outcomes[run.id] = None

    groups_before = store.stats.groups
    async with anyio.create_task_group() as group:
        for run in runs:
            group.start_soon(finish, run)

    assert isinstance(outcomes.pop(stale.id), StaleState)
    assert set(outcomes.values()) == {None}
    # They shared a group (one per committer); only the group with the miss was re-run, one write at a time.
    assert store.stats.groups - groups_before <= COMMITTERS
    assert store.stats.isolated_groups == 1
    statuses = {run.id: row.status for run in runs if (row := await store.get_run(run.id))}
    assert statuses.pop(stale.id) == "running"
    assert set(statuses.values()) == {"succeeded"}
    assert [line.seq for line in await store.get_logs(stale.id)] == [1]


async def test_a_database_error_fails_only_its_own_caller(store: SqlStore) -> None:
    runs = [run_record(f"job-{n}") for n in range(20)]
    for run in runs:
        await store.admit(run, [], seq=1)

    def line(run: RunRecord, seq: int) -> LogLine:
        return LogLine(
            run_id=run.id, job=run.job_name, seq=seq, at=at(1), step=None, level="info", message="hi"
        )

    errors: list[BaseException] = []

    async def log(run: RunRecord, seq: int) -> None:
        try:
            await store.append_logs([line(run, seq)])
        except IntegrityError as exc:
            errors.append(exc)

    groups_before = store.stats.groups
    async with anyio.create_task_group() as group:
        for n, run in enumerate(runs):
            # Run 5 tries to reuse seq 1, the admit transition's: the unique (run_id, seq) refuses it.
            group.start_soon(log, run, 1 if n == 5 else 2)

    assert len(errors) == 1
    # Only the group with the failing write was re-run, with a savepoint per write.
    assert store.stats.groups - groups_before <= COMMITTERS
    assert store.stats.isolated_groups == 1
    for n, run in enumerate(runs):
        assert [row.seq for row in await store.get_logs(run.id)] == ([1] if n == 5 else [1, 2])


async def test_a_write_once_queued_is_carried_out_even_if_its_caller_is_cancelled(store: SqlStore) -> None:
    run = run_record()
    with anyio.CancelScope() as scope:
        scope.cancel()
        admitted = await store.admit(run, [], seq=1)
    assert admitted is True
    assert await store.get_run(run.id) is not None


async def test_writes_are_refused_before_start_and_after_close(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        store = SqlStore(engine)
        with pytest.raises(StoreClosed, match="not running"):
            await store.admit(run_record(), [], seq=1)
        async with store:
            await store.admit(run_record("a"), [], seq=1)
        with pytest.raises(StoreClosed):
            await store.admit(run_record("b"), [], seq=1)
        assert [row.job_name for row in (await store.list_runs()).runs] == ["a"]
    finally:
        await engine.dispose()


async def test_closing_commits_what_was_queued(database_url: str) -> None:
    engine = create_engine(database_url)
    runs = [run_record(f"job-{n}") for n in range(30)]
    try:
        async with anyio.create_task_group() as group:
            store = SqlStore(engine)
            await group.start(store.run)
            for run in runs:
                group.start_soon(store.admit, run, [], 1)
            await anyio.lowlevel.checkpoint()  # let every admit queue its write
            store.close()
        assert len((await store.list_runs(limit=100)).runs) == 30
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "database_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_connections_the_server_dropped_cost_no_write(store: SqlStore, database_url: str) -> None:
    assert await store.admit(run_record("before"), [], seq=1)
    # The server goes away and comes back: every connection of this database is cut (but the admin's).
    admin = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    isolated = store.stats.isolated_groups

    runs = [run_record("after"), run_record("later")]
    assert [await store.admit(run, [], seq=1) for run in runs] == [True, True]

    # A kept connection found closed is thrown away before use; one that dies as the group is sent
    # costs a one-by-one re-run on a fresh connection. Either way each run is written once.
    assert store.stats.isolated_groups - isolated <= 1
    for run in runs:
        row = await store.get_run(run.id)
        assert row is not None and row.status == "running"
        assert [line.seq for line in await store.get_logs(run.id)] == [1]


@contextmanager
def losing_the_answer(store: SqlStore, *, after_commit: bool) -> Iterator[None]:
    """The next group's connection fails as its statement is sent: after the server committed it
    (`after_commit`, the answer is lost on the way back) or before it was sent."""
    from nomaflow.engine.store import batch_postgres

    execute = batch_postgres._Statement.execute
    lost = [False]

    async def failing(statement: Any, driver: Any) -> None:
        if lost[0]:
            await execute(statement, driver)
            return
        lost[0] = True
        if after_commit:
            await execute(statement, driver)
        driver.terminate()
        raise ConnectionResetError("connection reset by peer")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_postgres._Statement, "execute", failing)
        yield


@pytest.mark.parametrize(
    "database_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("after_commit", [True, False], ids=["committed", "not-sent"])
async def test_a_group_whose_answer_was_lost_is_written_exactly_once(
    store: SqlStore, after_commit: bool
) -> None:
    run = run_record("nightly")
    assert await store.admit(run, step_records(run, "a", "b"), seq=1)
    isolated = store.stats.isolated_groups
    start = step_moved(run, 0, "a", "start", "pending", "running", seq=2, when=at(1))
    line = LogLine(
        run_id=run.id, job="nightly", seq=3, at=at(1), step="a", level="info", message="hi", fields=None
    )
    other = run_record("weekly")

    admitted_other: list[bool] = []

    async def admit_other() -> None:
        admitted_other.append(await store.admit(other, step_records(other, "x"), 1))

    with losing_the_answer(store, after_commit=after_commit):
        async with anyio.create_task_group() as group:
            group.start_soon(store.apply, [start])
            group.start_soon(store.append_logs, [line])
            group.start_soon(admit_other)

    # The callers heard success, as if nothing had happened, and nothing was written twice.
    assert admitted_other == [True]
    assert store.stats.isolated_groups == isolated + 1
    assert [step.status for step in await store.get_steps(run.id)] == ["running", "pending"]
    assert [entry.seq for entry in await store.get_logs(run.id)] == [1, 2, 3]
    admitted = await store.get_run(other.id)
    assert admitted is not None and admitted.status == "running"
    assert [entry.seq for entry in await store.get_logs(other.id)] == [1]
    assert [step.status for step in await store.get_steps(other.id)] == ["pending"]
