"""The process log of `nomaflow serve`: `--log-format json` (one object per line) and `--log-config FILE`
(dictConfig from JSON, or YAML with PyYAML), every handler scrubbed; a file that cannot be used is a
clear error naming it, never a traceback."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nomaflow.engine.cli import app
from nomaflow.engine.steps.redaction import Scrubber
from nomaflow.engine.telemetry.fields import StepFields, run_fields
from nomaflow.engine.telemetry.process_log import LogConfigError, configure_process_logging
from nomaflow.engine.telemetry.secret_filter import SecretFilter


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """dictConfig changes the whole process's logging: put every logger back as it was."""
    manager = logging.root.manager
    saved = {
        name: (item.level, item.disabled, item.propagate, list(item.handlers), list(item.filters))
        for name, item in [("", logging.root), *manager.loggerDict.items()]
        if isinstance(item, logging.Logger)
    }
    try:
        yield
    finally:
        for name, (level, disabled, propagate, handlers, filters) in saved.items():
            logger = logging.getLogger(name or None)
            logger.setLevel(level)
            logger.disabled, logger.propagate = disabled, propagate
            logger.handlers[:], logger.filters[:] = handlers, filters


def secret_filter() -> SecretFilter:
    return SecretFilter(Scrubber(["s3cret-value"]))


def test_json_format_is_one_object_per_line_with_the_run_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    configure_process_logging("INFO", secret_filter(), log_format="json")
    logging.getLogger("nomaflow.audit").info(
        "alice ran %s", "s3cret-value", extra=run_fields("r-1", "billing")
    )
    logging.getLogger("httpx").info("a chatty library's line")  # kept at WARNING
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("app").exception("it broke")
    first, second = (json.loads(line) for line in err.getvalue().splitlines())
    assert first.pop("time").endswith("+00:00")
    assert first == {
        "level": "INFO",
        "logger": "nomaflow.audit",
        "message": "alice ran ***",
        "run_id": "r-1",
        "job": "billing",
    }
    assert (second["level"], second["message"]) == ("ERROR", "it broke")
    assert "RuntimeError: boom" in second["exception"] and "run_id" not in second


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def file_config(log_file: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,  # `lib` exists already (docs/logging.md says why this matters)
        "formatters": {"json": {"()": "nomaflow.engine.telemetry.process_log.JsonFormatter"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "json"}
        },
        "root": {"level": "WARNING", "handlers": ["file"]},
    }


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_log_config_file_is_set_up_and_its_handlers_scrubbed(tmp_path: Path, suffix: str) -> None:
    import yaml  # type: ignore[import-untyped]  # PyYAML: in the dev set, not a dependency of Nomaflow

    log_file = tmp_path / "nomaflow.log"
    config = file_config(log_file)
    text = json.dumps(config) if suffix == ".json" else yaml.safe_dump(config)
    configure_process_logging("DEBUG", secret_filter(), config_file=write(tmp_path / f"log{suffix}", text))
    [handler] = logging.getLogger().handlers
    assert any(isinstance(item, StepFields) for item in handler.filters)
    logging.getLogger("lib").info("below the file's root level")
    logging.getLogger("lib").warning("token s3cret-value")
    handler.flush()
    [line] = log_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["message"] == "token ***"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"version": 1,\n  "root": }', r"bad\.json, line 2 column 11: not valid JSON"),
        ("list.json", "[1]", r"expected a mapping in logging\.config\.dictConfig's schema .* found list"),
        ("bad.yaml", "version: [1", r"bad\.yaml: not valid YAML"),
        (
            "handler.json",
            '{"version": 1, "handlers": {"out": {"class": "no.such.Handler"}}}',
            r"handler\.json: Unable to configure handler 'out'",
        ),
        (
            "version.json",
            '{"root": {"level": "INFO"}}',
            r"version\.json: dictionary doesn't specify a version",
        ),
    ],
)
def test_a_log_config_that_cannot_be_used_is_a_clear_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(LogConfigError, match=message):
        configure_process_logging("INFO", secret_filter(), config_file=write(tmp_path / name, text))


def test_yaml_without_pyyaml_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    with pytest.raises(LogConfigError, match=r"reading YAML needs PyYAML.*pip install pyyaml.*as JSON"):
        configure_process_logging(
            "INFO", secret_filter(), config_file=write(tmp_path / "log.yml", "version: 1")
        )


def test_json_format_and_a_config_file_do_not_mix(tmp_path: Path) -> None:
    with pytest.raises(LogConfigError, match=r"--log-format json .* name the formatter in the file"):
        configure_process_logging(
            "INFO", secret_filter(), log_format="json", config_file=write(tmp_path / "log.json", "{}")
        )


def test_serve_reports_a_bad_log_config_without_a_traceback(tmp_path: Path) -> None:
    write(tmp_path / "app.toml", "")
    missing = tmp_path / "nowhere.json"
    result = CliRunner().invoke(
        app, ["--config", str(tmp_path / "app.toml"), "serve", "--log-config", str(missing)]
    )
    assert result.exit_code == 2, result.output
    assert f"--log-config {missing}: cannot read it" in result.output
    assert "Traceback" not in result.output
