"""Compare-and-set moves: each applies only from the expected state, records what it should, and is
logged as a transition the diagram view can replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from nomaflow.actors.events import LogLine
from nomaflow.actors.ports import RunRecord, StaleState
from nomaflow.engine.store import SqlStore
from tests.engine.store.contract import database_kind  # noqa: F401 (the fixture: SQL and memory)
from tests.engine.store.records import at, run_moved, run_record, step_moved, step_records

pytestmark = pytest.mark.anyio


async def admitted(store: SqlStore, *steps: str) -> RunRecord:
    run = run_record("nightly")
    assert await store.admit(run, step_records(run, *steps), seq=1)
    return run


async def test_a_step_walk_records_attempts_times_input_output_and_error(store: SqlStore) -> None:
    run = await admitted(store, "extract")
    await store.apply(
        [step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1), input={"q": 1})]
    )
    await store.apply(
        [
            step_moved(
                run,
                0,
                "extract",
                "retry",
                "running",
                "retrying",
                seq=3,
                when=at(2),
                error="timeout",
                delay_seconds=3.0,
            )
        ]
    )
    await store.apply(
        [step_moved(run, 0, "extract", "resume", "retrying", "running", seq=4, when=at(5), attempts=2)]
    )

    [step] = await store.get_steps(run.id)
    # A resumed attempt keeps the step's first start; the retry's error stays until replaced.
    assert (step.status, step.attempts, step.started_at, step.finished_at) == ("running", 2, at(1), None)
    assert (step.input, step.error) == ({"q": 1}, "timeout")

    await store.apply(
        [
            step_moved(
                run, 0, "extract", "succeed", "running", "succeeded", seq=5, when=at(6), attempts=2, output=[]
            )
        ]
    )
    [step] = await store.get_steps(run.id)
    assert (step.status, step.finished_at, step.output, step.input) == ("succeeded", at(6), [], {"q": 1})
    # Succeeded, the step holds no error; the failed attempt's stays in its retry row, which also says
    # how long the step waited and when its next attempt was due.
    assert step.error is None
    retry = next(line for line in await store.get_logs(run.id) if line.seq == 3)
    assert retry.fields is not None
    assert (retry.fields["error"], retry.fields["delay_seconds"]) == ("timeout", 3.0)
    assert datetime.fromisoformat(retry.fields["due_at"]) == at(5)


async def test_a_step_that_retries_and_succeeds_in_one_apply_holds_no_error(store: SqlStore) -> None:
    run = await admitted(store, "extract")
    await store.apply(
        [
            step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1), input={}),
            step_moved(run, 0, "extract", "retry", "running", "retrying", seq=3, when=at(2), error="x"),
            step_moved(run, 0, "extract", "resume", "retrying", "running", seq=4, when=at(3), attempts=2),
            step_moved(
                run, 0, "extract", "succeed", "running", "succeeded", seq=5, when=at(4), attempts=2, output=1
            ),
        ]
    )
    [step] = await store.get_steps(run.id)
    assert (step.status, step.attempts, step.error) == ("succeeded", 2, None)


async def test_one_apply_may_move_a_row_more_than_once(store: SqlStore) -> None:
    run = await admitted(store, "extract", "load")
    await store.apply(
        [
            step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1), input={}),
            step_moved(run, 0, "extract", "succeed", "running", "succeeded", seq=3, when=at(2), output=7),
            step_moved(run, 1, "load", "start", "pending", "running", seq=4, when=at(2)),
            step_moved(run, 1, "load", "abort", "running", "aborted", seq=5, when=at(3), error="stop"),
            run_moved(run, "abort", "running", "aborted", seq=6, when=at(3), error="stop"),
        ]
    )

    steps = await store.get_steps(run.id)
    assert [(s.status, s.started_at, s.finished_at, s.output) for s in steps] == [
        ("succeeded", at(1), at(2), 7),
        ("aborted", at(2), at(3), None),
    ]
    assert [line.seq for line in await store.get_logs(run.id)] == [1, 2, 3, 4, 5, 6]


async def test_a_run_move_sets_its_end_and_error(store: SqlStore) -> None:
    run = await admitted(store)
    await store.apply(
        [run_moved(run, "fail", "running", "failed", seq=2, when=at(3), error="step 'x' failed")]
    )

    row = await store.get_run(run.id)
    assert row is not None
    assert (row.status, row.finished_at, row.error) == ("failed", at(3), "step 'x' failed")


async def test_a_move_from_the_wrong_state_raises_stale_state_naming_the_row(store: SqlStore) -> None:
    run = await admitted(store, "extract")

    with pytest.raises(StaleState, match=r"step 'extract' \(position 0\) of run .*it is 'pending'"):
        await store.apply(
            [step_moved(run, 0, "extract", "succeed", "running", "succeeded", seq=2, when=at(1))]
        )
    with pytest.raises(StaleState, match=rf"run {run.id}: cannot abort .*it is 'running'"):
        await store.apply([run_moved(run, "abort", "pending", "aborted", seq=2, when=at(1))])
    with pytest.raises(StaleState, match="no such run"):
        await store.apply([run_moved(run_record(), "abort", "running", "aborted", seq=2, when=at(1))])


async def test_a_stale_change_applies_none_of_its_batch(store: SqlStore) -> None:
    run = await admitted(store, "extract", "load")
    batch = [
        step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1)),
        step_moved(run, 1, "load", "succeed", "running", "succeeded", seq=3, when=at(1)),
    ]

    with pytest.raises(StaleState):
        await store.apply(batch)

    assert [s.status for s in await store.get_steps(run.id)] == ["pending", "pending"]
    assert [line.seq for line in await store.get_logs(run.id)] == [1]


async def test_the_run_and_its_last_step_end_in_one_apply(store: SqlStore) -> None:
    run = await admitted(store, "only")
    await store.apply([step_moved(run, 0, "only", "start", "pending", "running", seq=2, when=at(1))])
    await store.apply(
        [
            step_moved(run, 0, "only", "fail", "running", "failed", seq=3, when=at(2), error="boom"),
            run_moved(run, "fail", "running", "failed", seq=4, when=at(2), error="step 'only' failed: boom"),
        ]
    )

    lines = await store.get_logs(run.id)
    assert [(line.seq, line.level, line.message) for line in lines] == [
        (1, "info", "run: pending -> running (admit)"),
        (2, "info", "step 'only': pending -> running (start)"),
        (3, "error", "step 'only': running -> failed (fail)"),
        (4, "error", "run: running -> failed (fail)"),
    ]
    assert lines[2].fields == {
        "event": "transition",
        "machine": "step",
        "step": "only",
        "trigger": "fail",
        "source": "running",
        "dest": "failed",
        "attempt": 1,
        "error": "boom",
    }
    assert lines[2].step_name == "only" and lines[2].ts == at(2)


async def test_timestamps_come_back_as_the_same_instant_in_utc(store: SqlStore) -> None:
    paris = timezone(timedelta(hours=2))
    started = datetime(2024, 6, 1, 11, 30, 15, 123456, tzinfo=paris)
    run = run_record("nightly", started=started, scheduled_for=started - timedelta(minutes=1))
    await store.admit(run, step_records(run, "a"), seq=1)
    await store.apply([step_moved(run, 0, "a", "start", "pending", "running", seq=2, when=started)])

    row = await store.get_run(run.id)
    [step] = await store.get_steps(run.id)
    [_, line] = await store.get_logs(run.id)
    assert row is not None and step.started_at is not None
    for value in (row.started_at, row.scheduled_for, step.started_at, line.ts):
        assert value is not None and value.tzinfo is UTC
    assert row.started_at == started and row.started_at.hour == 9
    assert step.started_at == started and line.ts == started


async def test_naive_datetimes_are_refused(store: SqlStore) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        await store.admit(run_record(started=datetime(2024, 1, 1, 12, 0)), [], seq=1)


async def test_a_naive_datetime_fails_its_own_write_only(store: SqlStore) -> None:
    """Written in one group with others, the bad write's caller hears of it and the rest commit."""
    good = run_record("good")
    outcomes: dict[str, Any] = {}

    async def admit(name: str, run: RunRecord) -> None:
        try:
            outcomes[name] = await store.admit(run, [], seq=1)
        except Exception as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as group:
        group.start_soon(admit, "bad", run_record("bad", started=datetime(2024, 1, 1, 12, 0)))
        group.start_soon(admit, "good", good)

    assert "naive datetime" in str(outcomes["bad"])
    assert outcomes["good"] is True
    row = await store.get_run(good.id)
    assert row is not None and row.status == "running"


async def test_log_lines_are_read_back_in_seq_order_after_a_seq(store: SqlStore) -> None:
    run = await admitted(store, "extract")
    lines = [
        LogLine(
            run_id=run.id,
            job=run.job_name,
            seq=seq,
            at=at(seq),
            step="extract",
            level="warning" if seq == 3 else "info",
            message=f"line {seq}",
            fields={"rows": seq} if seq % 2 else None,
        )
        for seq in (4, 2, 3, 5)
    ]
    await store.append_logs(lines)

    assert [line.seq for line in await store.get_logs(run.id)] == [1, 2, 3, 4, 5]
    after = await store.get_logs(run.id, after_seq=2, limit=2)
    assert [(line.seq, line.level, line.message, line.fields) for line in after] == [
        (3, "warning", "line 3", {"rows": 3}),
        (4, "info", "line 4", None),
    ]
    assert after[0].step_name == "extract" and after[0].ts == at(3)


async def test_empty_writes_are_no_ops(store: SqlStore) -> None:
    await store.apply([])
    await store.append_logs([])
    assert store.stats.writes == 0


async def test_moves_of_one_row_in_one_apply_are_applied_in_order(store: SqlStore) -> None:
    run = await admitted(store, "extract", "load")
    groups = store.stats.isolated_groups

    await store.apply(
        [
            step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1)),
            step_moved(run, 0, "extract", "succeed", "running", "succeeded", seq=3, when=at(2), output=7),
            step_moved(run, 1, "load", "skip", "pending", "skipped", seq=4, when=at(2), attempts=0),
            run_moved(run, "succeed", "running", "succeeded", seq=5, when=at(2)),
        ]
    )

    extract, load = await store.get_steps(run.id)
    assert (extract.status, extract.started_at, extract.finished_at, extract.output) == (
        "succeeded",
        at(1),
        at(2),
        7,
    )
    assert load.status == "skipped"
    row = await store.get_run(run.id)
    assert row is not None and row.status == "succeeded"
    # Applied on the common path, without a one-by-one re-run.
    assert store.stats.isolated_groups == groups
    assert [line.seq for line in await store.get_logs(run.id)] == [1, 2, 3, 4, 5]


async def test_end_run_fails_a_run_whatever_its_steps_say_and_only_once(store: SqlStore) -> None:
    """What a run actor that broke asks for: its run failed, its step in flight failed, the rest skipped,
    each logged from the sequence number it reserved."""
    run = await admitted(store, "extract", "load", "report")
    await store.apply(
        [
            step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1)),
            step_moved(run, 0, "extract", "succeed", "running", "succeeded", seq=3, when=at(2), output={}),
            step_moved(run, 1, "load", "start", "pending", "running", seq=4, when=at(2)),
        ]
    )
    error = "the engine could not carry this run through: ValueError: no"
    assert await store.end_run(run.id, first_seq=10, at=at(3), error=error)
    stored = await store.get_run(run.id)
    assert stored is not None and (stored.status, stored.error, stored.finished_at) == (
        "failed",
        error,
        at(3),
    )
    steps = await store.get_steps(run.id)
    assert [(s.status, s.error) for s in steps] == [("succeeded", None), ("failed", error), ("skipped", None)]
    logs = [log for log in await store.get_logs(run.id) if log.seq >= 10]
    assert [(log.seq, log.step_name, log.message) for log in logs] == [
        (10, "load", "step 'load': running -> failed (fail)"),
        (11, "report", "step 'report': pending -> skipped (skip)"),
        (12, None, "run: running -> failed (fail)"),
    ]
    # Ended already (here by itself; in life, by another engine's crash recovery): nothing is written.
    assert not await store.end_run(run.id, first_seq=20, at=at(4), error="again")
    assert max(log.seq for log in await store.get_logs(run.id)) == 12
