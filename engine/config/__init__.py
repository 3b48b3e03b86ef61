"""Configuration: app.toml, plugins/*/jobs.toml and jobs defined in Python, validated alike."""

from engine.config.jobs import JobDefinition, StepDefinition, decode_job
from engine.config.load import Install, load_install
from engine.config.model import AppSettings, JobsSettings, ServerSettings
from engine.config.problems import ConfigError, Problem

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
