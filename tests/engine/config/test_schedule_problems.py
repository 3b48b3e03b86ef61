"""A schedule Nomaflow cannot read, or that can never fire, is a configuration problem wherever jobs are
declared: `nomaflow check`, `nomaflow serve` and `jobs list` (one load, so the same problems), and
`Engine.define_job`. Each names the file and line, the field path, the job and why; none starts
anything. About 1 s in all (CLI runner in-process, no database touched)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomaflow.engine import ConfigError, Engine
from nomaflow.engine.cli import app
from nomaflow.engine.config import load_install

STEP = '[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "os:getcwd"\n'
JOBS = "".join(
    f'[[jobs]]\nname = "{name}"\nschedule = "{schedule}"\n{STEP}\n'
    for name, schedule in [
        ("weekend", "0 10 * * sat-sun"),  # line 3: loads (a range ending in Sunday ends in 7)
        ("leap", "0 0 31 2 *"),  # line 11
        ("short-months", "0 0 31 4,6,9,11 *"),  # line 19
        ("thirteenth", "0 0 13 * */1"),  # line 27: loads
        ("quartz", "0 0 L * *"),  # line 35
        ("wrapped", "0 22-2 * * *"),  # line 43
    ]
)
EXPECTED = [
    "plugins/billing/jobs.toml:11: jobs[1].schedule: job 'leap': invalid cron '0 0 31 2 *': "
    "it never fires: February has no day 31",
    "plugins/billing/jobs.toml:19: jobs[2].schedule: job 'short-months': invalid cron '0 0 31 4,6,9,11 *': "
    "it never fires: April, June, September and November have no day 31",
    "plugins/billing/jobs.toml:35: jobs[4].schedule: job 'quartz': invalid cron '0 0 L * *': "
    "day of month 'L': L and W (last day, nearest weekday of the month) are Quartz syntax, not supported",
    "plugins/billing/jobs.toml:43: jobs[5].schedule: job 'wrapped': invalid cron '0 22-2 * * *': "
    "hour range '22-2' runs backwards; crontab ranges do not wrap around: write '22-23,0-2'",
]


def write_install(root: Path, jobs_toml: str) -> Path:
    (root / "plugins" / "billing").mkdir(parents=True)
    (root / "app.toml").write_text("")
    (root / "plugins" / "billing" / "jobs.toml").write_text(textwrap.dedent(jobs_toml))
    return root / "app.toml"


@pytest.mark.parametrize("command", [["check"], ["serve"], ["jobs", "list"]])
def test_every_command_that_loads_the_install_reports_the_same_problems(
    tmp_path: Path, command: list[str]
) -> None:
    app_toml = write_install(tmp_path, JOBS)
    result = CliRunner().invoke(app, ["--config", str(app_toml), *command])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[0] == "4 configuration problems:"
    assert lines[1:] == EXPECTED
    assert not (tmp_path / "nomaflow.db").exists()  # nothing was started or created


def test_the_schedules_that_load_fire_as_crontab_says(tmp_path: Path) -> None:
    loadable = "".join(
        f'[[jobs]]\nname = "{name}"\nschedule = "{schedule}"\n{STEP}\n'
        for name, schedule in [("weekend", "0 10 * * sat-sun"), ("thirteenth", "0 0 13 * */1")]
    )
    install = load_install(write_install(tmp_path, loadable))
    after = datetime(2026, 11, 28, 12, tzinfo=UTC)  # a Saturday
    weekend, thirteenth = (install.jobs[name].schedule for name in ("weekend", "thirteenth"))
    assert weekend is not None and thirteenth is not None
    assert [f.strftime("%a %d") for f in weekend.next_fires(after, 3)] == ["Sun 29", "Sat 05", "Sun 06"]
    assert [f.strftime("%d %b") for f in thirteenth.next_fires(after, 3)] == ["13 Dec", "13 Jan", "13 Feb"]


def test_define_job_refuses_a_schedule_that_never_fires(tmp_path: Path) -> None:
    engine = Engine(load_install(write_install(tmp_path, "")), scheduler=False)
    step = {"name": "s", "type": "python", "callable": "os:getcwd"}
    with pytest.raises(ConfigError) as raised:
        engine.define_job(name="leap", schedule="0 0 30 2 *", steps=[step])
    [problem] = raised.value.problems
    assert problem.path == "schedule"
    assert problem.message == "job 'leap': invalid cron '0 0 30 2 *': it never fires: February has no day 30"
    assert "leap" not in engine.jobs
    weekend = engine.define_job(name="weekend", schedule="0 10 * * sat-sun", steps=[step])
    assert weekend.schedule is not None
