"""The log of a process Nomaflow owns (`nomaflow serve`): one scrubbed handler on stderr, as text or as
one JSON object per line, or whatever a `--log-config` file (logging.config.dictConfig's schema, in JSON,
or in YAML when PyYAML is installed) sets up, with the secret filter and the run fields added to each of
its handlers. A host app configures its own logging; it may use `JsonFormatter` there too.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nomaflow.engine.telemetry.fields import StepFields, attach_step_fields, fields_of
from nomaflow.engine.telemetry.secret_filter import SecretFilter, attach

# Client libraries that log a line per request (or per packet at DEBUG): WARNING unless DEBUG is asked for.
CHATTY_LIBRARIES = (
    "httpx",
    "httpcore",
    "hpack",
    "h2",
    "urllib3",
    "asyncpg",
    "aiosqlite",
    "asyncmy",
    "ldap3",
    "sqlalchemy",
)
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")


class LogConfigError(Exception):
    """A logging configuration that cannot be used; the message names the file and what is wrong."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then run_id, job and
    step when the record is about a run (its `extra`, or the step running when it was made), and the
    exception's traceback or the stack when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(fields_of(record))
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def read_log_config(path: Path) -> dict[str, Any]:
    """A dictConfig mapping from a JSON file, or a YAML one (.yaml, .yml) when PyYAML is installed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogConfigError(f"--log-config {path}: cannot read it: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise LogConfigError(
                f"--log-config {path}: reading YAML needs PyYAML, which is not installed "
                "(pip install pyyaml), or write the file as JSON"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LogConfigError(f"--log-config {path}: not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LogConfigError(
                f"--log-config {path}, line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}"
                " (a file named .yaml or .yml is read as YAML)"
            ) from None
    if not isinstance(data, dict):
        raise LogConfigError(
            f"--log-config {path}: expected a mapping in logging.config.dictConfig's schema "
            f"(version, formatters, handlers, loggers, root), found {type(data).__name__}"
        )
    return data


def configure_process_logging(
    level: str,
    log_filter: SecretFilter,
    *,
    log_format: str = "text",
    config_file: Path | None = None,
) -> None:
    """Set up the process log. Without `config_file`: one handler on stderr at `level`, its lines as
    text or JSON. With it: `level` for the root and the chatty libraries first, then the file, whose
    settings win; every handler it makes gets the secret filter and the run fields. Raises
    LogConfigError for a file that cannot be used."""
    if log_format not in LOG_FORMATS:
        raise LogConfigError(f"--log-format is text or json, not '{log_format}'")
    if config_file is not None and log_format != "text":
        raise LogConfigError(
            f"--log-format {log_format} formats Nomaflow's own handler, which --log-config replaces: "
            "name the formatter in the file instead "
            '(formatters: {"json": {"()": "nomaflow.engine.telemetry.process_log.JsonFormatter"}})'
        )
    config = read_log_config(config_file) if config_file is not None else None
    root = logging.getLogger()
    root.setLevel(level)
    quiet = logging.WARNING if logging.getLevelName(level) != logging.DEBUG else logging.NOTSET
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    if config is not None:
        try:
            logging.config.dictConfig(config)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            # dictConfig says which part failed ("Unable to configure handler 'file'") and why.
            cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
            raise LogConfigError(f"--log-config {config_file}: {exc}{cause}") from None
        attach(log_filter)
        attach_step_fields()
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(LOG_FORMAT))
    handler.addFilter(log_filter)
    handler.addFilter(StepFields())
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
