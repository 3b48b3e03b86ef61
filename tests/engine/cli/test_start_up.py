"""What keeps the reading commands quick to start (issue 15): on a SQLite store they load neither
pydantic (Typer's value checks are skipped where they would change nothing) nor SQLAlchemy (the file
is read with the stdlib, engine/store/sqlite_file.py); and values that do need Typer's checks (a
number, a choice) still get them, with Typer's own errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.engine.cli.conftest import Cli

PROBE = """
import sys
from nomaflow.engine.cli import main
sys.argv = ["nomaflow", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = [name for name in ("pydantic", "sqlalchemy", "alembic") if name in sys.modules]
print(code, *loaded, file=sys.stderr)
"""


def test_reading_commands_load_neither_pydantic_nor_sqlalchemy(cli: Cli) -> None:
    run_id = json.loads(cli("runs", "list", "-o", "json").stdout)["runs"][0]["id"]
    for command in (["jobs", "list"], ["runs", "list"], ["runs", "show", run_id]):
        done = subprocess.run(
            # The install from the environment: a --config given is a Path for Typer to check.
            [sys.executable, "-c", PROBE, *command],
            env={**os.environ, "NOMAFLOW_CONFIG": str(cli.app_toml)},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.stderr.strip().splitlines()[-1] == "0", (command, done.stderr)


def test_given_values_are_still_checked_and_converted_by_typer(cli: Cli) -> None:
    assert len(json.loads(cli("runs", "list", "--limit", "1", "-o", "JSON").stdout)["runs"]) == 1
    for args, wrong in (
        (["--limit", "0"], "'--limit': Input should be greater than or equal to 1"),
        (["--limit", "many"], "'--limit': Input should be a valid integer"),
        (["-o", "yaml"], "'yaml' is not one of 'table', 'json'"),
        (["--config", "/nowhere/app.toml"], "/nowhere/app.toml: file not found"),
    ):
        result = cli("runs", "list", *args)
        assert result.exit_code == 2, result.output
        assert wrong in " ".join(result.output.split()), result.output
