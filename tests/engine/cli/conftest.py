"""The CLI tests' install, copied per module, with a job store holding two runs made by `job run`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nomaflow.engine.cli import app

INSTALL = Path(__file__).parent / "install"
FLAKY = "flaky-with-a-rather-long-name-for-narrow-terminals"


@dataclass
class Cli:
    app_toml: Path

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(self.app_toml), *args])

    def json(self, *args: str) -> object:
        result = self(*args, "-o", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    folder = tmp_path_factory.mktemp("install")
    shutil.copytree(INSTALL, folder, dirs_exist_ok=True)
    found = Cli(folder / "app.toml")
    for job in (FLAKY, "billing-nightly"):
        ran = found("job", "run", job)
        assert ran.exit_code == 0, ran.output
    yield found
