"""Configuration: app.toml, plugins/*/jobs.toml and jobs defined in Python, validated alike.

Names are loaded on first use: the CLI reads app.toml's settings without loading the job
decoders, the step types and their drivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomaflow._exports import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


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
