"""A step's `dry_run` key: true or false as written, anything else a problem naming the file, the line,
the job and the step; a python step hands it to its function as `ctx.dry_run`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomaflow.engine import ConfigError, Engine
from nomaflow.engine.cli import app
from nomaflow.engine.config import Install

JOBS = """\
[[jobs]]
name = "nightly"
params = { dry = false }

[[jobs.steps]]
name = "load"
type = "python"
callable = "os:getcwd"
dry_run = "yes"

[[jobs.steps]]
name = "notify"
type = "python"
callable = "os:getcwd"
dry_run = "${params.dry}"
"""


def test_check_names_the_file_line_job_and_step_of_a_dry_run_that_is_not_a_boolean(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "billing").mkdir(parents=True)
    (tmp_path / "app.toml").write_text("")
    (tmp_path / "plugins" / "billing" / "jobs.toml").write_text(textwrap.dedent(JOBS))
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "app.toml"), "check"])
    assert result.exit_code == 2, result.output
    assert [line.strip() for line in result.output.splitlines()] == [
        "2 configuration problems:",
        "plugins/billing/jobs.toml:9: jobs[0].steps[0].dry_run: step 'load' of job 'nightly': "
        "dry_run must be true or false: got 'yes'",
        "plugins/billing/jobs.toml:15: jobs[0].steps[1].dry_run: step 'notify' of job 'nightly': "
        "dry_run must be true or false: it cannot be a template (to rehearse a whole run, start it as a "
        "dry run)",
    ]


@pytest.mark.anyio
async def test_a_python_step_is_told_its_own_dry_run(install: Install) -> None:
    async with Engine(install, scheduler=False) as engine:
        step = {"type": "python", "callable": "enginejobs.steps:double", "kwargs": {"value": 2}}
        engine.define_job(
            name="probe", steps=[{"name": "dry", "dry_run": True, **step}, {"name": "real", **step}]
        )
        with pytest.raises(ConfigError, match=r"steps\[0\]\.dry_run: .*dry_run must be true or false: got 1"):
            engine.define_job(name="bad", steps=[{"name": "s", "dry_run": 1, **step}])
        outcome = await (await engine.trigger("probe")).wait()
    assert outcome.succeeded, outcome
    assert [outcome.step(name).output["dry_run"] for name in ("dry", "real")] == [True, False]
    assert [outcome.step(name).dry_run for name in ("dry", "real")] == [True, False]
