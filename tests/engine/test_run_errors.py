"""A run's error says each thing once: the failed step is named once, "aborted" is said once, in the
store, through the API's text and in the CLI."""

from __future__ import annotations

import re

import anyio
import pytest
from typer.testing import CliRunner

from nomaflow.actors.run_actor import aborted, step_failed
from nomaflow.engine import Engine
from nomaflow.engine.cli import app
from nomaflow.engine.config import Install
from tests.engine.conftest import reached
from tests.engine.test_engine import python_step, unique

pytestmark = pytest.mark.anyio


def test_the_step_and_the_abort_are_named_once() -> None:
    assert step_failed("load", "step 'load': row 3, bad") == "step 'load' failed: row 3, bad"
    assert step_failed("load", "RuntimeError: disk full") == "step 'load' failed: RuntimeError: disk full"
    assert step_failed("load", "step 'other': x") == "step 'load' failed: step 'other': x"
    assert step_failed("load", None) == "step 'load' failed"
    assert aborted("aborted by cli:bob") == "aborted by cli:bob"
    assert aborted("wrong params (by api:sam)") == "aborted: wrong params (by api:sam)"
    assert aborted(None) == "aborted"


async def test_stored_and_shown_errors_name_the_step_once_and_say_aborted_once(install: Install) -> None:
    name = unique("forever")
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(name="copy", steps=[python_step("load", "refuse_row")])
        engine.define_job(name="long", steps=[python_step("wait", "wait_forever", name=name)])
        failed = await (await engine.trigger("copy")).wait()
        run = await engine.trigger("long")
        await reached(f"{name}:entered")
        assert await run.abort("aborted by cli:bob")
        stopped = await run.wait()
        stored_failed = await engine.store.get_run(failed.run_id)
        stored_aborted = await engine.store.get_run(stopped.run_id)
        steps = await engine.store.get_steps(failed.run_id)
    expected = "step 'load' failed: row 3, column 'v': value 'twelve' does not fit"
    assert failed.error == expected
    assert stored_failed is not None and stored_failed.error == expected
    # The step's own error still names it, as every step type's errors do (it is read alone in logs).
    assert steps[0].error == "step 'load': row 3, column 'v': value 'twelve' does not fit"
    assert stopped.error == "aborted by cli:bob"
    assert stored_aborted is not None and stored_aborted.error == "aborted by cli:bob"
    # `runs show` prints the stored text as it is.
    for run_id, text in ((failed.run_id, expected), (stopped.run_id, "aborted by cli:bob")):
        arguments = ["--config", str(install.app_file), "runs", "show", run_id]
        # The CLI runs its own event loop: in a thread, as it would in its own process.
        shown = await anyio.to_thread.run_sync(CliRunner().invoke, app, arguments)
        assert shown.exit_code == 0, shown.output
        assert re.search(rf"^  error +{re.escape(text)}$", shown.output, re.MULTILINE), shown.output
        assert "aborted: aborted" not in shown.output and "': step '" not in shown.output
    # The run's log, as `job logs` shows it: the run's last line says "aborted" once.
    arguments = ["--config", str(install.app_file), "job", "logs", stopped.run_id]
    logs = await anyio.to_thread.run_sync(CliRunner().invoke, app, arguments)
    assert logs.exit_code == 0, logs.output
    assert re.search(r" run aborted by cli:bob$", logs.output, re.MULTILINE), logs.output
