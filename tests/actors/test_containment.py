"""The supervisor supervises: a run that breaks (a write refused for good, a store gone, a bug) ends alone,
recorded as failed where the store allows and reported with its run id; every other run goes on, and
so does the supervisor. Over the in-memory store, told to refuse writes on demand."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import anyio
import pytest

from nomaflow.actors import RunRequest, StepContext
from nomaflow.actors.errors import StoreUnavailable
from nomaflow.actors.events import RunFinished
from nomaflow.actors.ports import RunMoved, StepMoved
from tests.actors.conftest import running
from tests.fakes import job

pytestmark = pytest.mark.anyio


def request(name: str) -> RunRequest:
    return RunRequest(run_id=str(uuid.uuid4()), job=name, params={}, dry_run=False, triggered_by="test")


async def returns_number(ctx: StepContext, options: dict[str, Any]) -> Any:
    return {"n": 21}


def ends_a_step(changes: Any) -> bool:
    return any(isinstance(c, StepMoved) and c.dest == "succeeded" for c in changes)


async def test_a_run_whose_write_is_refused_ends_alone_as_failed_and_the_rest_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan_a = job("a", ("first", "number"), ("second", "number"))
    plan_b = job("b", ("only", "number"))
    async with running({"number": returns_number}, plan_a, plan_b) as rig:
        refused = ValueError("value too long for type character varying(255)")
        rig.store.refuse("apply", refused, matches=ends_a_step)
        with caplog.at_level(logging.ERROR, logger="nomaflow.supervisor"):
            broken = await rig.supervisor.dispatch(request("a"))
            await broken.actor.finished.wait()
        # The supervisor still admits and carries runs, of that job and of others.
        after = [await rig.supervisor.dispatch(request(name)) for name in ("a", "b")]
        for admission in after:
            await admission.actor.finished.wait()
            assert admission.actor.outcome.status == "succeeded"
    outcome = broken.actor.outcome
    assert outcome.status == "failed"
    assert outcome.error == (
        "the engine could not carry this run through: "
        "ValueError: value too long for type character varying(255)"
    )
    stored = rig.store.runs[broken.run_id]
    assert (stored.status, stored.error) == ("failed", outcome.error)
    # The refused write was the first step's end with the second's start: the store had the first
    # step running and the second pending, and ends them as such.
    assert rig.store.step_statuses(broken.run_id) == ["failed", "skipped"]
    # Its end is announced like any run's, numbered after everything the run published.
    events = [e for e in rig.sink.events if e.run_id == broken.run_id]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "failed"
    assert events[-1].seq > max(e.seq for e in events[:-1])
    (record,) = [r for r in caplog.records if r.name == "nomaflow.supervisor"]
    assert (vars(record)["run_id"], vars(record)["job"]) == (broken.run_id, "a")  # from `extra`
    assert "recorded as failed" in record.getMessage() and record.exc_info is not None


async def test_a_broken_run_whose_end_cannot_be_written_either_is_reported_and_left_to_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = job("a", ("only", "number"))
    async with running({"number": returns_number}, plan) as rig:
        rig.store.refuse("apply", RuntimeError("the connection was reset"))
        rig.store.refuse("end_run", RuntimeError("still reset"))
        with caplog.at_level(logging.ERROR, logger="nomaflow.supervisor"):
            broken = await rig.supervisor.dispatch(request("a"))
            await broken.actor.finished.wait()
        assert broken.actor.outcome.status == "failed"
        (record,) = caplog.records
        assert "crash recovery will end it" in record.getMessage()
        assert record.exc_info is not None
        assert "recording run" in "".join(getattr(record.exc_info[1], "__notes__", []))
        # The store still says running (nothing could be written): the job's next dispatch is skipped
        # by the store's one-running-run rule, not by the supervisor, which has let go of the run.
        again = await rig.supervisor.dispatch(request("a"))
        assert again.status == "skipped"
        assert broken.run_id not in rig.supervisor.in_flight()


async def test_an_admission_the_store_cannot_take_now_fails_its_caller_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = job("a", ("only", "number"))
    async with running({"number": returns_number}, plan) as rig:
        rig.store.refuse("admit", StoreUnavailable("the job store is unavailable", retry_after=2.0))
        with (
            caplog.at_level(logging.WARNING, logger="nomaflow.supervisor"),
            pytest.raises(StoreUnavailable) as refused,
        ):
            await rig.supervisor.dispatch(request("a"))
        assert refused.value.retry_after == 2.0
        (record,) = caplog.records
        assert record.levelno == logging.WARNING and record.exc_info is None  # expected: no traceback
        assert vars(record)["job"] == "a"  # from `extra`
        admission = await rig.supervisor.dispatch(request("a"))
        await admission.actor.finished.wait()
        assert admission.actor.outcome.status == "succeeded"
    assert [r.status for r in rig.store.runs.values()] == ["succeeded"]


async def test_a_bug_in_a_step_machine_move_breaks_its_run_only() -> None:
    """Something the engine never expects (here the store losing track of a run's row) is contained
    the same way, whichever write it hits: the run's end."""
    plan = job("a", ("only", "number"))
    async with running({"number": returns_number}, plan) as rig:

        def ends_the_run(changes: Any) -> bool:
            return any(isinstance(c, RunMoved) for c in changes)

        rig.store.refuse("apply", KeyError("run"), matches=ends_the_run)
        broken = await rig.supervisor.dispatch(request("a"))
        await broken.actor.finished.wait()
        other = await rig.supervisor.dispatch(request("a"))
        await other.actor.finished.wait()
    assert broken.actor.outcome.status == "failed"
    assert "KeyError" in (broken.actor.outcome.error or "")
    assert rig.store.runs[broken.run_id].status == "failed"
    assert other.actor.outcome.status == "succeeded"


async def test_shutdown_completes_after_runs_broke() -> None:
    plan = job("a", ("only", "number"))
    gate = anyio.Event()

    async def waits(ctx: StepContext, options: dict[str, Any]) -> Any:
        await gate.wait()
        return {}

    async with running({"number": returns_number, "waits": waits}, plan, job("w", ("x", "waits"))) as rig:
        rig.store.refuse("apply", ValueError("refused"), times=3)
        for _ in range(3):
            broken = await rig.supervisor.dispatch(request("a"))
            await broken.actor.finished.wait()
        waiting = await rig.supervisor.dispatch(request("w"))
        gate.set()
        await waiting.actor.finished.wait()
        with anyio.fail_after(5):
            assert await rig.supervisor.shutdown(0) == []
    assert waiting.actor.outcome.status == "succeeded"
