"""`nomaflow --version` prints `nomaflow.__version__`, the one place the version is written (setuptools
reads it from there too; tests/e2e/test_wheel.py checks the built wheel's metadata)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

import nomaflow
from nomaflow.engine.cli import app


def test_version_and_its_short_form() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", nomaflow.__version__)
    for flag in ("--version", "-V"):
        result = CliRunner().invoke(app, [flag])
        assert result.exit_code == 0 and result.stdout == f"nomaflow {nomaflow.__version__}\n"
