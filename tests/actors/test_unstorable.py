"""Text no job store can hold (NUL for PostgreSQL, lone surrogates for both): a step's output holding
some fails the step, naming where; records (inputs, log lines, errors) keep it, visibly escaped."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from nomaflow.actors import RunRequest, StepContext
from nomaflow.actors.jsonable import Unstorable, capped, escape_unstorable, output_snapshot, unstorable_part
from tests.actors.conftest import running
from tests.fakes import job


def test_unstorable_part_names_the_path_and_the_character() -> None:
    assert unstorable_part({"x": "a\x00b"}, "output") == "output.x contains a NUL character (\\u0000)"
    assert (
        unstorable_part({"rows": [{"name": "ok"}, {"name": "b\ud800"}]}, "output")
        == "output.rows[1].name contains a lone surrogate (\\ud800)"
    )
    assert (
        unstorable_part({"a b": ["\x00"]}, "params") == 'params["a b"][0] contains a NUL character (\\u0000)'
    )
    assert unstorable_part({"k\x00": 1}, "params") == "a key of params contains a NUL character (\\u0000)"
    # Text that merely spells an escape, and everything else JSON holds, is fine.
    assert unstorable_part({"x": "\\u0000", "y": "é中", "z": [1, 2.5, None, True]}, "output") is None


def test_records_are_escaped_visibly_and_outputs_refused() -> None:
    assert escape_unstorable({"m\x00": ["a\x00b", "\udc80", 3]}) == {"m\\u0000": ["a\\u0000b", "\\udc80", 3]}
    assert capped({"input": "a\x00b"}) == {"input": "a\\u0000b"}
    assert capped({"input": "plain"}) == {"input": "plain"}
    with pytest.raises(Unstorable, match=r"output\.x contains a NUL"):
        output_snapshot({"x": "a\x00b"})
    with pytest.raises(Unstorable, match=r"output\[0\] contains a lone surrogate"):
        output_snapshot(["\udfff"])
    assert output_snapshot({"x": "\\u0000"}) == {"x": "\\u0000"}


@pytest.mark.anyio
async def test_a_step_returning_unstorable_text_fails_with_the_path_and_the_rest_go_on() -> None:
    async def returns(ctx: StepContext, options: dict[str, Any]) -> Any:
        return options["value"]

    async def fine(ctx: StepContext, options: dict[str, Any]) -> Any:
        return {"ok": True}

    plan = job("nul", ("first", "returns"), ("second", "fine"))
    first_step = msgspec.structs.replace(plan.steps[0], options={"value": {"x": "a\x00b"}})
    plan = msgspec.structs.replace(plan, steps=(first_step, plan.steps[1]))
    async with running({"returns": returns, "fine": fine}, plan, job("other", ("only", "fine"))) as rig:
        request = RunRequest(run_id=str(uuid.uuid4()), job="nul", params={}, dry_run=False, triggered_by="t")
        admission = await rig.supervisor.dispatch(request)
        await admission.actor.finished.wait()
        other = await rig.supervisor.dispatch(
            RunRequest(run_id=str(uuid.uuid4()), job="other", params={}, dry_run=False, triggered_by="t")
        )
        await other.actor.finished.wait()
    outcome = admission.actor.outcome
    assert outcome.status == "failed"
    first = outcome.step("first")
    assert (first.status, first.attempts, first.output) == ("failed", 1, None)
    assert first.error == (
        "the step's output cannot be stored: output.x contains a NUL character (\\u0000), which the job "
        "store cannot hold (encode such data, e.g. as base64, before returning it)"
    )
    assert outcome.step("second").status == "skipped"
    assert rig.store.step_statuses(admission.run_id) == ["failed", "skipped"]
    assert other.actor.outcome.status == "succeeded"
