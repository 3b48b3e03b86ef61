"""The step executor: settings are rendered per run when they hold templates, and once when they do not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from nomaflow.actors.errors import StepFailure
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import CancelFlag, RunScope, StepContext, StepLog
from nomaflow.actors.retry import RetryPolicy
from nomaflow.engine.running.executor import StepExecutor
from nomaflow.engine.steps.base import StepType


class EchoOptions(msgspec.Struct, kw_only=True):
    text: str
    tags: list[str] = msgspec.field(default_factory=list)


class Echo(StepType[EchoOptions]):
    name = "echo"
    options = EchoOptions
    redactions = 0

    def __init__(self) -> None:
        pass

    def redact(self, rendered: dict[str, Any]) -> dict[str, Any]:
        Echo.redactions += 1
        return rendered

    async def run(self, ctx: StepContext, options: EchoOptions) -> Any:
        return options.text


def plan(options: dict[str, Any]) -> tuple[JobPlan, StepPlan]:
    step = StepPlan(name="say", type="echo", position=0, retry=RetryPolicy(), options=options)
    return JobPlan(name="greet", app="demo", timezone="UTC", steps=(step,)), step


def scope(run_id: str) -> RunScope:
    return RunScope(
        run_id=run_id,
        job="greet",
        params={"who": run_id},
        dry_run=False,
        logical_time=datetime(2026, 3, 1, tzinfo=UTC),
        outputs={},
    )


def test_a_step_without_templates_is_prepared_once_for_every_run() -> None:
    executor = StepExecutor({"echo": Echo()}, environ={})
    job, step = plan({"text": "hello", "tags": ["a", "b"]})
    Echo.redactions = 0

    first = executor.prepare(job, step, scope("run-1"))
    second = executor.prepare(job, step, scope("run-2"))

    assert second is first
    assert first.input_snapshot == {"text": "hello", "tags": ["a", "b"]}
    assert Echo.redactions == 1


def test_a_step_with_templates_is_rendered_for_each_run() -> None:
    executor = StepExecutor({"echo": Echo()}, environ={})
    job, step = plan({"text": "hello ${params.who}", "tags": ["$${literal}"]})

    first = executor.prepare(job, step, scope("run-1"))
    second = executor.prepare(job, step, scope("run-2"))

    assert first.input_snapshot == {"text": "hello run-1", "tags": ["${literal}"]}
    assert second.input_snapshot == {"text": "hello run-2", "tags": ["${literal}"]}


def test_a_redefined_step_is_not_served_from_the_old_settings() -> None:
    executor = StepExecutor({"echo": Echo()}, environ={})
    job, step = plan({"text": "old"})
    executor.prepare(job, step, scope("run-1"))

    job, step = plan({"text": "new"})

    assert executor.prepare(job, step, scope("run-2")).input_snapshot == {"text": "new"}


# --- secrets: scrubbed from whatever a step records ----------------------------------------------------


class LeakOptions(msgspec.Struct, kw_only=True):
    text: str  # "${env.X}" or anything
    password: str = ""
    fail: str = ""  # "step": a StepFailure; "error": an unexpected exception


class Leak(StepType[LeakOptions]):
    """Echoes its text and password everywhere it can: output, log line, error."""

    name = "leak"
    options = LeakOptions

    def __init__(self) -> None:
        pass

    def secrets(self, options: LeakOptions) -> list[str]:
        return [options.password] if options.password else []

    async def run(self, ctx: StepContext, options: LeakOptions) -> Any:
        said = f"{options.text} / {options.password}"
        ctx.log.info(f"saying {said}", echo=said)
        if options.fail == "step":
            raise StepFailure(f"refused: {said}", retry_after=5)
        if options.fail == "error":
            raise KeyError(said)
        return {"said": said, said: True}


def _leak_context(lines: list[tuple[str, str, dict[str, Any] | None]]) -> StepContext:
    return StepContext(
        run_id="r",
        job="greet",
        step="say",
        attempt=1,
        params={},
        dry_run=False,
        outputs={},
        previous_output=None,
        log=StepLog(lambda level, message, fields: lines.append((level, message, fields))),
        cancel_flag=CancelFlag(),
        now=lambda: datetime(2026, 3, 1, tzinfo=UTC),
    )


async def _attempt(options: dict[str, Any]) -> tuple[Any, list[tuple[str, str, dict[str, Any] | None]]]:
    executor = StepExecutor({"leak": Leak()}, environ={"API_TOKEN": "tok-123456"})
    step = StepPlan(name="say", type="leak", position=0, retry=RetryPolicy(), options=options)
    prepared = executor.prepare(
        JobPlan(name="greet", app="demo", timezone="UTC", steps=(step,)), step, scope("r")
    )
    lines: list[tuple[str, str, dict[str, Any] | None]] = []
    try:
        result: Any = await prepared(_leak_context(lines))
    except Exception as exc:
        result = exc
    return result, lines


@pytest.mark.anyio
async def test_env_values_and_the_types_secrets_are_scrubbed_from_output_and_log_lines() -> None:
    output, lines = await _attempt({"text": "${env.API_TOKEN}", "password": "pw-abcdef"})
    assert output == {"said": "*** / ***", "*** / ***": True}
    assert lines == [("info", "saying *** / ***", {"echo": "*** / ***"})]


@pytest.mark.anyio
async def test_a_step_failure_is_scrubbed_and_keeps_its_type_and_retry_after() -> None:
    error, _ = await _attempt({"text": "x", "password": "pw-abcdef", "fail": "step"})
    assert type(error) is StepFailure and str(error) == "refused: x / ***" and error.retry_after == 5


@pytest.mark.anyio
async def test_an_unexpected_error_showing_a_secret_becomes_a_scrubbed_retryable_failure() -> None:
    error, lines = await _attempt({"text": "${env.API_TOKEN}", "fail": "error"})
    assert type(error) is StepFailure and error.retryable and str(error) == "KeyError: '*** / '"
    level, message, fields = lines[-1]
    assert (level, message) == ("error", "KeyError: '*** / '")
    assert (
        fields is not None and "tok-123456" not in fields["traceback"] and "KeyError" in fields["traceback"]
    )


@pytest.mark.anyio
async def test_a_step_without_secrets_is_called_as_it_is() -> None:
    error, _ = await _attempt({"text": "plain", "fail": "error"})
    assert type(error) is KeyError  # not wrapped: the step actor logs its traceback itself
