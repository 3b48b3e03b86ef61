"""Mistakes users make every day come back as clear problems: retry typos anywhere, enums with the values
they allow, and every `[auth] secret` that `serve` would refuse, all found by `nomaflow check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomaflow.engine.cli import app
from nomaflow.engine.config import ConfigError, load_install
from nomaflow.engine.engine import Engine
from nomaflow.engine.server import Nomaflow
from nomaflow.engine.server.auth.tokens import AuthConfigError
from tests.engine.config.test_load import EXAMPLES, write_install

RETRY_TYPOS = """\
    [[jobs]]
    name = "nightly"
    timezone = "Europe/Pariss"

    [jobs.retry]
    max_atempts = 3
    backoff = "exponentiel"
    initial_delay_seconds = "60"

    [[jobs.steps]]
    name = "rebuild"
    type = "python"
    callable = "os:getcwd"

    [jobs.steps.retry]
    max_atempts = 3
    backoff = "exponentiel"
    initial_delay_seconds = "60"
"""


def _problems(app_toml: Path) -> dict[str, tuple[int | None, str]]:
    with pytest.raises(ConfigError) as raised:
        load_install(app_toml, to_serve=True)
    return {p.path: (p.line, p.message) for p in raised.value.problems}


def test_retry_typos_are_problems_with_lines_under_the_job_as_under_a_step(tmp_path: Path) -> None:
    found = _problems(write_install(tmp_path, RETRY_TYPOS))
    for prefix, first in (("jobs[0].retry", 6), ("jobs[0].steps[0].retry", 16)):
        assert found[f"{prefix}.max_atempts"] == (first, 'unknown key (did you mean "max_attempts"?)')
        assert found[f"{prefix}.backoff"] == (
            first + 1,
            "'exponentiel' is not one of fixed, linear, exponential",
        )
        assert found[f"{prefix}.initial_delay_seconds"] == (first + 2, "expected 'float', got 'str'")
    # ... and the rest of the job is still checked.
    assert found["jobs[0].timezone"][0] == 3
    assert len(found) == 7


def test_check_lists_retry_typos_and_exits_2_without_a_traceback(tmp_path: Path) -> None:
    app_toml = write_install(tmp_path, RETRY_TYPOS)
    result = CliRunner().invoke(app, ["--config", str(app_toml), "check"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "7 configuration problems" in result.output
    assert "plugins/billing/jobs.toml:7: jobs[0].retry.backoff: 'exponentiel' is not one of" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("retry", "path", "message"),
    [
        ({"max_atempts": 3}, "retry.max_atempts", 'unknown key (did you mean "max_attempts"?)'),
        ({"backoff": "weird"}, "retry.backoff", "'weird' is not one of fixed, linear, exponential"),
        ({"initial_delay_seconds": "60"}, "retry.initial_delay_seconds", "expected 'float', got 'str'"),
        (5, "retry", "expected 'table', got 'int'"),
    ],
)
def test_define_job_refuses_a_bad_retry_with_a_config_error(retry: object, path: str, message: str) -> None:
    engine = Engine(load_install(EXAMPLES))
    with pytest.raises(ConfigError) as raised:
        engine.define_job(
            name="defined", retry=retry, steps=[{"name": "one", "type": "python", "callable": "os:getcwd"}]
        )
    assert [(p.path, p.message) for p in raised.value.problems] == [(path, message)]


ENUMS = """\
    [[jobs]]
    name = "nightly"
    catch_up = "never"
    on_interrupt = "retry"

    [[jobs.steps]]
    name = "rebuild"
    type = "python"
    callable = "os:getcwd"
    isolation = "proc"
"""


def test_every_enum_problem_lists_the_allowed_values(tmp_path: Path) -> None:
    app_toml = write_install(tmp_path, ENUMS, '[auth.users.ann]\npassword_hash = "x"\nrole = "boss"\n')
    found = _problems(app_toml)
    assert found["auth.users.ann.role"] == (3, "'boss' is not one of viewer, operator, admin")
    assert found["jobs[0].catch_up"] == (3, "'never' is not one of skip, latest, all")
    assert found["jobs[0].on_interrupt"] == (4, "'retry' is not one of fail, resume")
    assert found["jobs[0].steps[0].isolation"] == (10, "'proc' is not one of thread, process")


SECRET_UNSET = '[auth]\nsecret = "${env.NOMAFLOW_TEST_UNSET_SECRET}"\n'
SECRET_SHORT = '[auth]\n\nsecret = "too-short"\n'
ONE_JOB = """\
    [[jobs]]
    name = "nightly"

    [[jobs.steps]]
    name = "rebuild"
    type = "python"
    callable = "os:getcwd"
"""


@pytest.mark.parametrize(
    ("app_toml", "line", "message"),
    [
        (SECRET_UNSET, 2, "reads ${env.NOMAFLOW_TEST_UNSET_SECRET}, which is not set"),
        (SECRET_SHORT, 3, "is 9 characters long; HS256 needs at least 32"),
    ],
)
def test_check_finds_every_secret_serve_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_toml: str, line: int, message: str
) -> None:
    monkeypatch.delenv("NOMAFLOW_TEST_UNSET_SECRET", raising=False)
    install_file = write_install(tmp_path, ONE_JOB, app_toml)
    # serve's own judge refuses it...
    with pytest.raises(AuthConfigError, match=message.split(";")[0].replace("$", r"\$")):
        Nomaflow(load_install(install_file))
    # ... and so does `check`, with the line, exit 2.
    result = CliRunner().invoke(app, ["--config", str(install_file), "check"])
    assert result.exit_code == 2, result.output
    assert f"app.toml:{line}: auth.secret: {message}" in result.output
    # Local commands that never sign a token still load the install.
    assert "nightly" in load_install(install_file).jobs


def test_a_secret_problem_is_listed_with_the_jobs_problems(tmp_path: Path) -> None:
    found = _problems(write_install(tmp_path, ENUMS, SECRET_SHORT))
    assert found["auth.secret"][0] == 3
    assert "jobs[0].catch_up" in found


STEP_ENUMS = """\
    [[jobs]]
    name = "mirror"

    [[jobs.steps]]
    name = "people"
    type = "ldap_sync"
    server = "ldap://ldap.example.org"
    base_dn = "dc=example,dc=org"
    connector = "app"
    table = "people"
    key = "login"
    attributes = { uid = "login", tel = { column = "phones", multi = "joinn" } }

    [[jobs.steps]]
    name = "copy"
    type = "sql_copy"
    source = "app"
    source_table = "people"
    target = "app"
    table = "people_copy"
    mode = "merge"
"""


def test_enums_inside_step_options_and_their_tables_list_the_allowed_values(tmp_path: Path) -> None:
    found = _problems(write_install(tmp_path, STEP_ENUMS, '[connectors.app]\nurl = "sqlite:///app.db"\n'))
    # A table's key is named (not msgspec's `[...]`), with the line of the inline table.
    assert found["jobs[0].steps[0].attributes.tel.multi"] == (12, "'joinn' is not one of first, join")
    assert found["jobs[0].steps[1].mode"] == (21, "'merge' is not one of replace, append, upsert")
