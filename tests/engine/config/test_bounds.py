"""`nomaflow check` never tracebacks: wrong shapes, deep nesting and bytes that are not UTF-8 are
problems with their file and line; every number in app.toml and jobs.toml is finite and in range, and
settings that depend on each other are checked together. Each case exits 2 with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomaflow.engine.cli import app
from nomaflow.engine.config import ConfigError, load_install
from tests.engine.config.test_load import JOB, STEP, write_install


def check(app_toml: Path) -> str:
    """`nomaflow check`'s output, after asserting it failed as bad configuration does."""
    result = CliRunner().invoke(app, ["--config", str(app_toml), "check"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no exception escaped
    assert "Traceback" not in result.output
    return result.output


def test_params_that_are_not_a_table(tmp_path: Path) -> None:
    output = check(write_install(tmp_path, JOB + "params = 5\n" + STEP))
    assert "plugins/billing/jobs.toml:3: jobs[0].params: expected 'table', got 'int'" in output


def test_a_nested_table_of_the_wrong_shape_does_not_hide_the_rest(tmp_path: Path) -> None:
    jobs = JOB + 'params = [1]\n[jobs.retry]\nmax_attempts = "x"\n' + STEP + "timeout_seconds = -1\n"
    output = check(write_install(tmp_path, jobs))
    assert "jobs[0].params: expected 'table', got 'array'" in output
    assert "jobs[0].retry.max_attempts: expected 'int', got 'str'" in output
    assert "jobs[0].steps[0].timeout_seconds: expected a number > 0 and <= 2.592e+06, got -1" in output


def test_nesting_deeper_than_the_toml_parser_can_follow(tmp_path: Path) -> None:
    deep = "x = " + "[" * 1000 + "]" * 1000 + "\n"
    output = check(write_install(tmp_path, JOB + STEP + "\n" + deep))
    assert "plugins/billing/jobs.toml:8: arrays or inline tables are nested too deeply" in output


def test_nesting_deeper_than_the_limit_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_install(
            write_install(tmp_path, JOB + "params = { deep = " + "[" * 100 + "]" * 100 + " }\n" + STEP)
        )
    [problem] = raised.value.problems
    assert problem.line == 3 and problem.path.startswith("jobs[0].params.deep[0]")
    assert "nested too deeply (at most 64 levels" in problem.message


def test_nesting_up_to_the_limit_loads(tmp_path: Path) -> None:
    # The deepest allowed value goes through every later stage (decoding, template scan, checks).
    # The limit counts from the top of the file: jobs[0].params.deep is 3 levels in.
    nested = "[" * 60 + "1" + "]" * 60
    jobs = JOB + f"params = {{ deep = {nested} }}\n" + STEP.replace("os:getcwd", "builtins:print")
    jobs += "kwargs = { sep = " + "[" * 55 + "]" * 55 + " }\n"
    install = load_install(write_install(tmp_path, jobs))
    value, depth = install.jobs["a"].params["deep"], 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert (value, depth) == (1, 60)


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    app_toml = write_install(tmp_path, "")
    (tmp_path / "plugins" / "billing" / "jobs.toml").write_bytes(b'[[jobs]]\nname = "\xff"\n')
    assert "plugins/billing/jobs.toml:2: invalid TOML: not UTF-8 (byte 0xff)" in check(app_toml)


@pytest.mark.parametrize(
    ("app_toml", "path", "expected"),
    [
        ("[jobs]\nheartbeat_seconds = nan\n", "jobs.heartbeat_seconds", ">= 0.1 and <= 3600, got nan"),
        ("[jobs]\nheartbeat_seconds = 0\n", "jobs.heartbeat_seconds", ">= 0.1 and <= 3600, got 0"),
        ("[jobs]\nheartbeat_seconds = -1\n", "jobs.heartbeat_seconds", ">= 0.1 and <= 3600, got -1"),
        ("[jobs]\nheartbeat_seconds = inf\n", "jobs.heartbeat_seconds", ">= 0.1 and <= 3600, got inf"),
        ("[jobs]\ninterrupted_after_seconds = -30\n", "jobs.interrupted_after_seconds", "got -30"),
        ("[jobs]\nleader_renew_seconds = 0\n", "jobs.leader_renew_seconds", ">= 0.1 and <= 3600, got 0"),
        ("[jobs]\nleader_lease_seconds = -10\n", "jobs.leader_lease_seconds", "got -10"),
        ("[jobs]\nleader_lease_seconds = nan\n", "jobs.leader_lease_seconds", "got nan"),
        ("[jobs]\nshutdown_grace_seconds = -1\n", "jobs.shutdown_grace_seconds", ">= 0 and <= 86400"),
        ("[jobs]\nworker_threads = 0\n", "jobs.worker_threads", "a whole number >= 1 and <= 1000, got 0"),
        ("[jobs]\nhistory_days = 1000000000\n", "jobs.history_days", "<= 36500"),
        ("[server]\nport = 70000\n", "server.port", ">= 0 and <= 65535"),
        ("[server]\nidempotency_hours = nan\n", "server.idempotency_hours", "got nan"),
        ("[server]\nmax_body_bytes = 0\n", "server.max_body_bytes", ">= 1024"),
        ("[auth]\nlogin_ttl_seconds = 0\n", "auth.login_ttl_seconds", ">= 60"),
        ("[auth.login_limits]\nhashing_slots = 0\n", "auth.login_limits.hashing_slots", ">= 1"),
        ("[auth.login_limits]\nbackoff_max_seconds = nan\n", "auth.login_limits.backoff_max_seconds", "nan"),
        ("[http]\ntimeout_seconds = nan\n", "http.timeout_seconds", "> 0 and <= 86400, got nan"),
        ("[http]\nmax_redirects = -1\n", "http.max_redirects", ">= 0 and <= 100"),
        ('[connectors.x]\nurl = "sqlite:///x.db"\npool_timeout_seconds = inf\n', "connectors.x", "got inf"),
        ('[connectors.x]\nurl = "sqlite:///x.db"\npool_size = 0\n', "connectors.x.pool_size", ">= 1"),
        # Settings that depend on each other.
        (
            "[jobs]\nheartbeat_seconds = 20\ninterrupted_after_seconds = 30\n",
            "jobs.interrupted_after_seconds",
            "expected at least twice jobs.heartbeat_seconds (20)",
        ),
        (
            "[jobs]\nleader_renew_seconds = 10\nleader_lease_seconds = 10\n",
            "jobs.leader_lease_seconds",
            "expected at least twice jobs.leader_renew_seconds (10)",
        ),
        (
            "[auth.login_limits]\nbackoff_initial_seconds = 60\nbackoff_max_seconds = 30\n",
            "auth.login_limits.backoff_max_seconds",
            "expected at least auth.login_limits.backoff_initial_seconds (60)",
        ),
    ],
)
def test_app_toml_numbers_are_finite_in_range_and_consistent(
    tmp_path: Path, app_toml: str, path: str, expected: str
) -> None:
    output = check(write_install(tmp_path, JOB + STEP, app_toml=app_toml))
    [line] = [line for line in output.splitlines() if "app.toml" in line]
    assert f": {path}" in line and expected in line, line


@pytest.mark.parametrize(
    ("jobs_toml", "path", "expected"),
    [
        (JOB + "timeout_seconds = nan\n" + STEP, "jobs[0].timeout_seconds", "got nan"),
        (JOB + STEP + "timeout_seconds = inf\n", "jobs[0].steps[0].timeout_seconds", "got inf"),
        (JOB + STEP + "timeout_seconds = 0\n", "jobs[0].steps[0].timeout_seconds", "> 0"),
        (
            JOB + "[jobs.retry]\ninitial_delay_seconds = nan\n" + STEP,
            "jobs[0].retry.initial_delay_seconds",
            "nan",
        ),
        (JOB + "[jobs.retry]\nmax_delay_seconds = inf\n" + STEP, "jobs[0].retry.max_delay_seconds", "inf"),
        (JOB + "[jobs.retry]\nmultiplier = nan\n" + STEP, "jobs[0].retry.multiplier", "got nan"),
        (JOB + "[jobs.retry]\nmax_attempts = 100000\n" + STEP, "jobs[0].retry.max_attempts", "<= 1000"),
        (
            JOB + STEP + "[jobs.steps.retry]\ninitial_delay_seconds = -1\n",
            "jobs[0].steps[0].retry.initial_delay_seconds",
            "expected >= 0",
        ),
        (
            JOB + 'catch_up_window = "99999999999d"\n' + STEP,
            "jobs[0].catch_up_window",
            "between 0 and 3660 days",
        ),
    ],
)
def test_jobs_toml_numbers_are_finite_and_in_range(
    tmp_path: Path, jobs_toml: str, path: str, expected: str
) -> None:
    output = check(write_install(tmp_path, jobs_toml))
    [line] = [line for line in output.splitlines() if "jobs.toml" in line]
    assert f": {path}: " in line and expected in line, line


def test_values_the_store_cannot_hold_are_refused_where_they_are_written(tmp_path: Path) -> None:
    output = check(write_install(tmp_path / "nul", JOB + 'params = { sep = "a\\u0000b" }\n' + STEP))
    assert "jobs.toml:3: jobs[0].params.sep: contains a NUL character (\\x00)" in output
    output = check(write_install(tmp_path / "kwargs", JOB + STEP + 'kwargs = { "k\\u0000" = 1 }\n'))
    assert "jobs[0].steps[0].kwargs: the key 'k\\x00' contains a NUL character" in output
    # JSON has no nan: a run could never store this default.
    output = check(write_install(tmp_path / "nan", JOB + "params = { ratio = nan }\n" + STEP))
    assert "jobs.toml:3: jobs[0].params.ratio: a number that is not finite (nan)" in output
