"""Configuration: app.toml, plugins/*/jobs.toml and jobs defined in Python, validated alike."""

from nomaflow.engine.config.jobs import JobDefinition, StepDefinition, decode_job
from nomaflow.engine.config.load import Install, load_install
from nomaflow.engine.config.model import AppSettings, JobsSettings, ServerSettings
from nomaflow.engine.config.problems import ConfigError, Problem

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
