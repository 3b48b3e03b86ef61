"""The in-process commands' output: JSON in the REST API's shapes (validated by the API's own models),
tables that never cut a value, --config anywhere, the exit codes in --help, help texts shown as written,
and messages that keep their quotes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from typing import Any

from pydantic import TypeAdapter

from nomaflow.engine.server.api.schemas import JobOut, LogsOut, RunDetail, RunPageOut
from tests.engine.cli.conftest import FLAKY, Cli

NOMAFLOW = [sys.executable, "-m", "nomaflow"]


def _same_keys(document: dict[str, Any], model: Any) -> None:
    assert set(document) == set(model.model_fields), sorted(set(document) ^ set(model.model_fields))


def test_json_of_each_command_parses_and_has_the_rest_shape(cli: Cli) -> None:
    page = cli.json("runs", "list")
    RunPageOut.model_validate(page)
    assert isinstance(page, dict) and len(page["runs"]) == 2
    _same_keys(page, RunPageOut)
    run_id = next(run["id"] for run in page["runs"] if run["job"] == FLAKY)

    detail = cli.json("runs", "show", run_id)
    assert isinstance(detail, dict)
    RunDetail.model_validate(detail)
    _same_keys(detail, RunDetail)
    assert detail["status"] == "succeeded" and detail["steps"][0]["attempts"] == 2

    logs = cli.json("job", "logs", run_id)
    LogsOut.model_validate(logs)
    assert isinstance(logs, dict) and logs["run_status"] == "succeeded"
    assert [line["seq"] for line in logs["lines"]] == list(range(1, logs["last_seq"] + 1))

    jobs = cli.json("jobs", "list")
    TypeAdapter(list[JobOut]).validate_python(jobs)
    assert isinstance(jobs, list)
    _same_keys(jobs[0], JobOut)
    by_name = {job["name"]: job for job in jobs}
    assert by_name[FLAKY]["last_run"]["status"] == "succeeded"
    assert by_name["billing-nightly"]["schedule"] == "0 2 * * *" and by_name["billing-nightly"]["next_fire"]

    assert cli.json("check") == {
        "ok": True,
        "app_file": str(cli.app_toml.resolve()),
        "jobs": 3,  # with the built-in cleanup job
        "steps": 3,
        "problems": [],
    }


def test_job_run_json_is_the_finished_run(cli: Cli) -> None:
    ran = cli("job", "run", "billing-nightly", "-o", "json")
    assert ran.exit_code == 0, ran.output
    detail = json.loads(ran.stdout)
    RunDetail.model_validate(detail)
    assert detail["job"] == "billing-nightly" and detail["status"] == "succeeded"
    assert detail["steps"][0]["output"] == "hello"


def test_a_pipe_gets_every_value_whole_however_narrow_the_terminal(cli: Cli) -> None:
    env = {**os.environ, "COLUMNS": "60", "NOMAFLOW_CONFIG": str(cli.app_toml)}
    listing = subprocess.run(
        [*NOMAFLOW, "runs", "list"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["run", "id", "job", "status", "triggered", "by", "started", "duration"]
    assert any(FLAKY in row and " succeeded " in row for row in rows[1:]), listing.stdout
    assert "…" not in listing.stdout and all(row == row.rstrip() for row in rows)


def test_config_is_accepted_after_the_subcommand(cli: Cli) -> None:
    from typer.testing import CliRunner

    from nomaflow.engine.cli import app

    for args in (
        ["runs", "list", "--config", str(cli.app_toml), "-o", "json"],
        ["runs", f"--config={cli.app_toml}", "list", "-o", "json"],
        ["runs", "list", "-o", "json", "-c", str(cli.app_toml)],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert len(json.loads(result.stdout)["runs"]) >= 2


def test_help_lists_the_exit_codes_and_shows_config_tables_as_written(cli: Cli) -> None:
    top = cli("--help")
    assert top.exit_code == 0
    for code in (
        "0  done",
        "1  the run failed",
        "2  bad usage",
        "3  the run was skipped",
        "4  the run was aborted",
    ):
        assert code in top.stdout
    serve = cli("serve", "--help")
    assert "Default: [server] host, else 127.0.0.1." in " ".join(serve.stdout.split())
    token = cli("token", "create", "--help")
    assert "signed with [auth] secret" in " ".join(token.stdout.split())


def test_unknown_names_are_bad_usage_with_their_quotes_whole(cli: Cli) -> None:
    paused = cli("job", "pause", "nope")
    assert paused.exit_code == 2
    assert "error: no job named 'nope'" in paused.stderr and "'nope\n" not in paused.stderr
    shown = cli("runs", "show", "no-such-run")
    assert shown.exit_code == 2 and "no run with id 'no-such-run'" in shown.stderr
    logs = cli("job", "logs", "no-such-run", "-o", "json")
    assert logs.exit_code == 2 and logs.stdout == ""


def test_reading_commands_do_not_make_or_migrate_a_store(cli: Cli, tmp_path: Any) -> None:
    app_toml = tmp_path / "app.toml"
    app_toml.write_text(cli.app_toml.read_text(encoding="utf-8"), encoding="utf-8")
    empty = Cli(app_toml)
    assert empty.json("runs", "list") == {"runs": [], "next_cursor": None}
    assert empty("runs", "list").stdout.strip() == "no runs yet"
    assert not (tmp_path / "nomaflow.db").exists()


def test_a_store_never_migrated_or_not_a_database_is_said_in_one_line(tmp_path: Any) -> None:
    app_toml = tmp_path / "app.toml"
    app_toml.write_text('[connectors.default]\nurl = "sqlite:///store.db"\n', encoding="utf-8")
    sqlite3.connect(tmp_path / "store.db").execute("CREATE TABLE other (a)").connection.close()
    unmigrated = Cli(app_toml)("runs", "list")
    assert unmigrated.exit_code == 1 and "Traceback" not in unmigrated.output
    assert "the job store has no Nomaflow tables yet" in unmigrated.stderr
    assert "run `nomaflow db upgrade`" in unmigrated.stderr
    (tmp_path / "store.db").write_bytes(b"not a database, not at all")
    garbage = Cli(app_toml)("runs", "list")
    assert garbage.exit_code == 1 and "the job store refused: file is not a database" in garbage.stderr


def test_check_in_json_lists_every_problem_and_exits_2(tmp_path: Any) -> None:
    app_toml = tmp_path / "app.toml"
    app_toml.write_text('[jobs]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    result = Cli(app_toml)("check", "-o", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "ok": False,
        "app_file": str(app_toml.resolve()),
        "jobs": None,
        "steps": None,
        "problems": [
            {
                "file": str(app_toml.resolve()),
                "line": 2,
                "path": "jobs.timezone",
                "message": "unknown timezone 'Mars/Olympus'",
            }
        ],
    }
