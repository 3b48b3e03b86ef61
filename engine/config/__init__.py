"""Configuration: app.toml, plugins/*/jobs.toml and jobs defined in Python, validated alike.

Names are loaded on first use: the CLI reads app.toml's settings without loading the job
decoders, the step types and their drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_PUBLIC = {
    "AppSettings": "nomaflow.engine.config.model",
    "ConfigError": "nomaflow.engine.config.problems",
    "Install": "nomaflow.engine.config.load",
    "JobDefinition": "nomaflow.engine.config.jobs",
    "JobsSettings": "nomaflow.engine.config.model",
    "Problem": "nomaflow.engine.config.problems",
    "ServerSettings": "nomaflow.engine.config.model",
    "StepDefinition": "nomaflow.engine.config.jobs",
    "decode_job": "nomaflow.engine.config.jobs",
    "load_install": "nomaflow.engine.config.load",
}

if TYPE_CHECKING:
    from nomaflow.engine.config.jobs import JobDefinition, StepDefinition, decode_job
    from nomaflow.engine.config.load import Install, load_install
    from nomaflow.engine.config.model import AppSettings, JobsSettings, ServerSettings
    from nomaflow.engine.config.problems import ConfigError, Problem


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'nomaflow.engine.config' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = [
    "AppSettings",
    "ConfigError",
    "Install",
    "JobDefinition",
    "JobsSettings",
    "Problem",
    "ServerSettings",
    "StepDefinition",
    "decode_job",
    "load_install",
]
