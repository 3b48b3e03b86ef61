"""Admission: a run and its steps appear in one go, and a job never has two running runs."""

from __future__ import annotations

import anyio
import pytest

from nomaflow.actors.ports import RunRecord, StepMoved
from nomaflow.engine.store import SqlStore
from tests.engine.store.contract import database_kind  # noqa: F401 (the fixture: SQL and memory)
from tests.engine.store.records import T0, at, run_moved, run_record, step_moved, step_records

pytestmark = pytest.mark.anyio


async def test_admit_inserts_the_running_run_and_its_pending_steps(store: SqlStore) -> None:
    run = run_record("nightly", scheduled_for=at(-5))

    assert await store.admit(run, step_records(run, "extract", "load"), seq=1) is True

    row = await store.get_run(run.id)
    assert row is not None
    assert (row.status, row.job_name, row.app, row.triggered_by) == (
        "running",
        "nightly",
        "billing",
        "cli:alice",
    )
    assert row.params == {"month": "2024-02"}
    assert row.started_at == T0 and row.scheduled_for == at(-5)
    assert row.finished_at is None and row.error is None
    assert row.owner == "engine-1"
    steps = await store.get_steps(run.id)
    assert [(s.position, s.step_name, s.status, s.attempts) for s in steps] == [
        (0, "extract", "pending", 0),
        (1, "load", "pending", 0),
    ]
    assert all(s.started_at is None and s.input is None for s in steps)


async def test_admit_logs_the_admit_transition_with_its_seq(store: SqlStore) -> None:
    run = run_record()
    await store.admit(run, step_records(run, "only"), seq=1)

    [line] = await store.get_logs(run.id)
    assert (line.seq, line.level, line.step_name, line.ts) == (1, "info", None, T0)
    assert line.message == "run: pending -> running (admit)"
    assert line.fields == {
        "event": "transition",
        "machine": "run",
        "step": None,
        "trigger": "admit",
        "source": "pending",
        "dest": "running",
        "attempt": None,
    }


async def test_admit_starts_the_first_step_in_the_same_transaction(store: SqlStore) -> None:
    run = run_record()
    start = step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(0.5), input={"q": 1})
    groups = store.stats.groups

    assert await store.admit(run, step_records(run, "extract", "load"), seq=1, moves=[start]) is True

    assert store.stats.groups == groups + 1
    extract, load = await store.get_steps(run.id)
    assert (extract.status, extract.attempts, extract.started_at, extract.input) == (
        "running",
        1,
        at(0.5),
        {"q": 1},
    )
    assert extract.finished_at is None and extract.output is None
    assert (load.status, load.attempts, load.started_at) == ("pending", 0, None)
    lines = await store.get_logs(run.id)
    assert [(line.seq, line.message) for line in lines] == [
        (1, "run: pending -> running (admit)"),
        (2, "step 'extract': pending -> running (start)"),
    ]


async def test_a_turned_away_admission_drops_its_step_moves(store: SqlStore) -> None:
    first = run_record("nightly")
    assert await store.admit(first, step_records(first, "a"), seq=1)
    second = run_record("nightly", started=at(1))
    start = step_moved(second, 0, "a", "start", "pending", "running", seq=2, when=at(1))

    assert await store.admit(second, step_records(second, "a"), seq=1, moves=[start]) is False

    row = await store.get_run(second.id)
    assert row is not None and row.status == "skipped"
    assert await store.get_steps(second.id) == []
    assert [line.seq for line in await store.get_logs(second.id)] == [1]


async def test_moves_that_do_not_fit_the_new_steps_are_refused(store: SqlStore) -> None:
    run = run_record()
    finish = step_moved(run, 0, "a", "succeed", "running", "succeeded", seq=2, when=at(1))

    with pytest.raises(ValueError, match="cannot succeed from 'pending'"):
        await store.admit(run, step_records(run, "a"), seq=1, moves=[finish])

    assert await store.get_run(run.id) is None


async def test_moves_that_do_not_fit_fail_their_own_admission_only(store: SqlStore) -> None:
    bad, good = run_record("bad"), run_record("good")
    finish = step_moved(bad, 0, "a", "succeed", "running", "succeeded", seq=2, when=at(1))
    outcomes: dict[str, object] = {}

    async def admit(name: str, run: RunRecord, moves: list[StepMoved]) -> None:
        try:
            outcomes[name] = await store.admit(run, step_records(run, "a"), seq=1, moves=moves)
        except ValueError as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as group:  # queued together: one group
        group.start_soon(admit, "bad", bad, [finish])
        group.start_soon(admit, "good", good, [])

    assert "cannot succeed from 'pending'" in str(outcomes["bad"])
    assert outcomes["good"] is True
    assert await store.get_run(bad.id) is None
    row = await store.get_run(good.id)
    assert row is not None and row.status == "running"


async def test_a_second_admit_of_a_running_job_is_recorded_as_skipped(store: SqlStore) -> None:
    first = run_record("nightly")
    second = run_record("nightly", started=at(1))
    assert await store.admit(first, step_records(first, "a"), seq=1)

    assert await store.admit(second, step_records(second, "a"), seq=1) is False

    row = await store.get_run(second.id)
    assert row is not None
    assert row.status == "skipped"
    assert row.finished_at == row.started_at == at(1)
    assert row.error == "job is already running in another engine process"
    assert await store.get_steps(second.id) == []
    [line] = await store.get_logs(second.id)
    assert line.message == "run: pending -> skipped (skip)"
    assert line.fields is not None and line.fields["trigger"] == "skip"
    assert line.fields["error"] == "job is already running in another engine process"
    first_row = await store.get_run(first.id)
    assert first_row is not None and first_row.status == "running"


async def test_the_job_can_be_admitted_again_once_its_run_ended(store: SqlStore) -> None:
    first = run_record("nightly")
    await store.admit(first, [], seq=1)
    await store.apply([run_moved(first, "succeed", "running", "succeeded", seq=2, when=at(1))])

    second = run_record("nightly", started=at(2))
    assert await store.admit(second, [], seq=1) is True


async def test_different_jobs_run_side_by_side(store: SqlStore) -> None:
    assert await store.admit(run_record("a"), [], seq=1)
    assert await store.admit(run_record("b"), [], seq=1)
    assert {r.status for r in (await store.list_runs()).runs} == {"running"}


async def test_insert_skipped_records_a_run_skipped_before_admission(store: SqlStore) -> None:
    run = run_record("nightly", status="skipped", finished_at=T0, error="job is already running (run x)")

    await store.insert_skipped(run, seq=1)

    row = await store.get_run(run.id)
    assert row is not None
    assert (row.status, row.finished_at, row.error) == ("skipped", T0, "job is already running (run x)")
    [line] = await store.get_logs(run.id)
    assert (line.seq, line.message) == (1, "run: pending -> skipped (skip)")


async def test_insert_skipped_is_allowed_while_the_job_runs(store: SqlStore) -> None:
    running = run_record("nightly")
    await store.admit(running, [], seq=1)
    skipped = run_record("nightly", status="skipped", error="job is already running")

    await store.insert_skipped(skipped, seq=1)

    statuses = sorted(r.status for r in (await store.list_runs(job="nightly")).runs)
    assert statuses == ["running", "skipped"]


async def test_a_cron_fire_runs_once_even_if_dispatched_twice(store: SqlStore) -> None:
    fire = at(-60)
    first = run_record("nightly", triggered_by="cron", scheduled_for=fire)
    await store.admit(first, [], seq=1)
    await store.apply([run_moved(first, "succeed", "running", "succeeded", seq=2, when=at(1))])

    again = run_record("nightly", triggered_by="cron", scheduled_for=fire, started=at(2))
    assert await store.admit(again, [], seq=1) is False

    row = await store.get_run(again.id)
    assert row is not None
    assert row.status == "skipped"
    # The fire stays with the run that took it; the duplicate is kept as a skip standing for no fire.
    assert row.scheduled_for is None
    assert row.error is not None and first.id in row.error and "already run" in row.error


async def test_a_cron_fire_dispatched_while_its_run_is_running_says_already_running(store: SqlStore) -> None:
    fire = at(-60)
    await store.admit(run_record("nightly", triggered_by="cron", scheduled_for=fire), [], seq=1)

    again = run_record("nightly", triggered_by="cron", scheduled_for=fire, started=at(2))
    assert await store.admit(again, [], seq=1) is False

    row = await store.get_run(again.id)
    assert row is not None
    assert (row.status, row.scheduled_for) == ("skipped", None)
    assert row.error == "job is already running in another engine process"


async def test_manual_runs_have_no_fire_and_never_collide_on_it(store: SqlStore) -> None:
    first = run_record("nightly")
    await store.admit(first, [], seq=1)
    await store.apply([run_moved(first, "succeed", "running", "succeeded", seq=2, when=at(1))])
    assert await store.admit(run_record("nightly", started=at(2)), [], seq=1) is True


async def test_admitting_an_existing_run_id_again_is_an_error(store: SqlStore) -> None:
    run = run_record("nightly")
    await store.admit(run, [], seq=1)
    await store.apply([run_moved(run, "succeed", "running", "succeeded", seq=2, when=at(1))])

    with pytest.raises(ValueError, match="already recorded"):
        await store.admit(run, [], seq=3)
