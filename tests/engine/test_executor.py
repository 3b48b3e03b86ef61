"""The step executor: settings are rendered per run when they hold templates, and once when they do not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import RunScope, StepContext
from nomaflow.actors.retry import RetryPolicy
from nomaflow.engine.executor import StepExecutor
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
