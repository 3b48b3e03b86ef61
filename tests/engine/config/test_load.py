"""Loading an install: every problem listed with its file, line and field path; the example loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomaflow.engine.cli import app
from nomaflow.engine.config import ConfigError, load_install

EXAMPLES = Path(__file__).parents[3] / "examples" / "app.toml"


def write_install(root: Path, jobs_toml: str, app_toml: str = "", plugin: str = "billing") -> Path:
    (root / "plugins" / plugin).mkdir(parents=True)
    (root / "app.toml").write_text(textwrap.dedent(app_toml))
    (root / "plugins" / plugin / "jobs.toml").write_text(textwrap.dedent(jobs_toml))
    return root / "app.toml"


FOUR_PROBLEMS = """\
    [[jobs]]
    name = "nightly"
    schedule = "0 2 * * 9"
    timezone = "Europe/Pariss"
    colour = "blue"

    [[jobs.steps]]
    name = "rebuild"
    type = "pyhton"
    callable = "os:getcwd"
"""


def test_the_example_install_loads() -> None:
    install = load_install(EXAMPLES)
    assert set(install.jobs) == {"sales-report", "flaky-sync", "heartbeat", "long-export", "nomaflow-cleanup"}
    report = install.jobs["sales-report"]
    assert report.app == "demo" and report.timezone == "Europe/Paris"
    assert [s.name for s in report.steps] == ["extract", "summarise", "publish"]
    assert report.steps[0].retry.max_attempts == 3  # the job's [jobs.retry] applies to its steps
    assert install.jobs["heartbeat"].schedule is not None


def test_all_four_problems_are_reported_with_file_line_and_path(tmp_path: Path) -> None:
    app_toml = write_install(tmp_path, FOUR_PROBLEMS)
    with pytest.raises(ConfigError) as raised:
        load_install(app_toml)
    shown = [str(p) for p in raised.value.problems]
    assert len(shown) == 4, shown
    assert "plugins/billing/jobs.toml:5: jobs[0].colour: unknown key" in shown[0]
    by_path = {p.path: p for p in raised.value.problems}
    assert by_path["jobs[0].timezone"].line == 4
    assert 'did you mean "Europe/Paris"' in by_path["jobs[0].timezone"].message
    assert by_path["jobs[0].schedule"].line == 3
    assert "day of week 9" in by_path["jobs[0].schedule"].message
    assert by_path["jobs[0].steps[0].type"].line == 9
    assert 'did you mean "python"' in by_path["jobs[0].steps[0].type"].message


def test_nomaflow_check_lists_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    app_toml = write_install(tmp_path, FOUR_PROBLEMS)
    result = CliRunner().invoke(app, ["--config", str(app_toml), "check"])
    assert result.exit_code == 2
    output = result.output
    assert "4 configuration problems" in output
    for path in ("jobs[0].colour", "jobs[0].timezone", "jobs[0].schedule", "jobs[0].steps[0].type"):
        assert "plugins/billing/jobs.toml:" in output and path in output
    assert "Traceback" not in output


def test_check_passes_on_the_example() -> None:
    result = CliRunner().invoke(app, ["--config", str(EXAMPLES), "check"])
    assert result.exit_code == 0, result.output
    assert "5 jobs" in result.output


JOB = '[[jobs]]\nname = "a"\n'
STEP = '[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "os:getcwd"\n'


@pytest.mark.parametrize(
    ("jobs_toml", "path", "message"),
    [
        (JOB, "jobs[0].steps", "at least one"),
        (JOB.replace('"a"', '"a b"') + STEP, "jobs[0].name", "not a valid job name"),
        (
            JOB + "[jobs.retry]\nmax_attempts = 0\n" + STEP,
            "jobs[0].retry.max_attempts",
            "expected an integer >= 1",
        ),
        (
            JOB + STEP + 'timeout_seconds = "ten"\n',
            "jobs[0].steps[0].timeout_seconds",
            "expected 'float | null'",
        ),
        (JOB + STEP + STEP, "jobs[0].steps[1].name", "already named 's'"),
        (JOB + STEP + "kwarg = {}\n", "jobs[0].steps[0].kwarg", 'unknown key (did you mean "kwargs"?)'),
        (
            JOB + STEP.replace("os:getcwd", "no_such_module_x:f"),
            "jobs[0].steps[0].callable",
            "cannot import module 'no_such_module_x'",
        ),
        (
            JOB + STEP.replace("os:getcwd", "os.path:join") + "kwargs = { nope = 1 }\n",
            "jobs[0].steps[0].kwargs.nope",
            "takes no argument 'nope'",
        ),
        (JOB + 'enabled = "yes"\n' + STEP, "jobs[0].enabled", "expected 'bool', got 'str'"),
        (JOB + STEP.replace('type = "python"\n', ""), "jobs[0].steps[0].type", "required field is missing"),
    ],
)
def test_each_kind_of_problem(tmp_path: Path, jobs_toml: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_install(write_install(tmp_path, jobs_toml))
    matching = [p for p in raised.value.problems if p.path == path]
    assert matching, [str(p) for p in raised.value.problems]
    assert message in matching[0].message


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_install(write_install(tmp_path, '[[jobs]]\nname = "a"\nschedule = 0 2 * * *\n'))
    [problem] = raised.value.problems
    assert problem.line == 3 and "invalid TOML" in problem.message


def test_app_toml_problems_and_duplicate_jobs(tmp_path: Path) -> None:
    app_toml = write_install(
        tmp_path,
        '[[jobs]]\nname = "a"\n[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "os:getcwd"\n',
        app_toml="[jobs]\nhistory_dayz = 3\n[sever]\nport = 1\n",
    )
    (tmp_path / "plugins" / "other").mkdir()
    (tmp_path / "plugins" / "other" / "jobs.toml").write_text(
        '[[jobs]]\nname = "a"\n[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "os:getcwd"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_install(app_toml)
    shown = "\n".join(str(p) for p in raised.value.problems)
    assert 'jobs.history_dayz: unknown key (did you mean "history_days"?)' in shown
    assert 'sever: unknown key (did you mean "server"?)' in shown
    assert "job 'a' is already declared in plugins/billing/jobs.toml" in shown


def test_database_url_defaults_beside_app_toml_and_env_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_toml = write_install(
        tmp_path,
        '[[jobs]]\nname = "a"\n[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "os:getcwd"\n',
    )
    monkeypatch.delenv("NOMAFLOW_DATABASE_URL", raising=False)
    assert load_install(app_toml).database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'nomaflow.db'}"
    monkeypatch.setenv("NOMAFLOW_DATABASE_URL", "postgresql://u@h/db")
    assert load_install(app_toml).database_url == "postgresql://u@h/db"


def test_the_store_url_takes_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_toml = write_install(
        tmp_path,
        JOB + STEP,
        app_toml='[connectors.default]\nurl = "postgresql://nomaflow:${env.NOMAFLOW_TEST_PW}@db/jobs"\n',
    )
    monkeypatch.delenv("NOMAFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("NOMAFLOW_TEST_PW", "p@ss/word")
    assert "nomaflow:p%40ss%2Fword@db/jobs" in load_install(app_toml).database_url
    monkeypatch.delenv("NOMAFLOW_TEST_PW")
    with pytest.raises(ConfigError) as raised:
        load_install(app_toml)
    [problem] = raised.value.problems
    assert problem.path == "connectors.default.url" and "NOMAFLOW_TEST_PW" in problem.message
