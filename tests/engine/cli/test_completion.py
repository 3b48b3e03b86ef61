"""Shell completion: a script for bash, zsh and fish, and job names and run ids completed from the
install the command line names."""

from __future__ import annotations

import os
from typing import Any

import pytest
from typer.testing import CliRunner

from nomaflow.engine.cli import app
from tests.engine.cli.conftest import FLAKY, Cli


def test_a_completion_script_for_three_shells(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read when the command is built: `--show-completion SHELL` then names the shell, as a user may.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    for shell, marker in (
        ("bash", "complete -o"),
        ("zsh", "compdef"),
        ("fish", "complete --command nomaflow"),
    ):
        result = CliRunner().invoke(app, ["--show-completion", shell], prog_name="nomaflow")
        assert result.exit_code == 0, result.output
        assert marker in result.stdout and "_NOMAFLOW_COMPLETE" in result.stdout, (shell, result.stdout)


def _complete(words: str, **env: Any) -> list[str]:
    result = CliRunner().invoke(
        app,
        [],
        env={
            "_NOMAFLOW_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            **env,
        },
        prog_name="nomaflow",
    )
    return [line.split(",", 1)[-1] for line in result.stdout.splitlines() if line]


def test_job_names_and_run_ids_complete_from_the_install(cli: Cli) -> None:
    config = str(cli.app_toml)
    assert _complete(f"nomaflow --config {config} job run fl") == [FLAKY]
    assert _complete("nomaflow job run b", NOMAFLOW_CONFIG=config) == ["billing-nightly"]
    runs = cli.json("runs", "list")
    assert isinstance(runs, dict)
    ids = sorted(run["id"] for run in runs["runs"])
    assert sorted(_complete(f"nomaflow runs show --config {config} ")) == ids
    assert (
        _complete("nomaflow job run x", NOMAFLOW_CONFIG=os.devnull) == []
    )  # a broken install completes nothing
