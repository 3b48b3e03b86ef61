"""The shape of an install's configuration: `app.toml` and every `plugins/<app>/jobs.toml`.

These Structs are decoded by `engine.config.load`, which reports every problem with its file, line and
field path. Defaults here are the documented defaults (docs/configuration.md).
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.retry import RetryPolicy


class ConnectorSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[connectors.<name>]`: a database the engine or SQL steps connect to. `default` is the job store."""

    url: str
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_seconds: float = 30.0
    pool_recycle_seconds: float = 1800.0


class JobsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[jobs]`: engine-wide settings."""

    scheduler_enabled: bool = True
    history_days: int = 90
    timezone: str = "UTC"  # for jobs that name none
    plugins: str = "plugins"  # folder holding <app>/jobs.toml, relative to app.toml
    shutdown_grace_seconds: float = 30.0
    worker_threads: int = 20  # threads available to sync python steps at once


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[server]`: where `nomaflow serve` listens."""

    host: str = "127.0.0.1"
    port: int = 8000


class AppSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole of app.toml."""

    connectors: dict[str, ConnectorSettings] = msgspec.field(default_factory=dict)
    jobs: JobsSettings = msgspec.field(default_factory=JobsSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)


# Keys every step table has, whatever its type; all other keys are the step type's own options.
STEP_COMMON_KEYS = ("name", "type", "description", "retry", "timeout_seconds")


class StepSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The common part of a `[[jobs.steps]]` table."""

    name: str
    type: str
    description: str = ""
    retry: RetryPolicy | None = None  # replaces the job's [jobs.retry] for this step
    timeout_seconds: float | None = None  # per attempt


class JobSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The common part of a `[[jobs]]` table (steps are decoded one by one, with their type's options)."""

    name: str
    app: str | None = None  # defaults to the plugin folder's name
    description: str = ""
    schedule: str | None = None  # cron; none means the job runs only on demand
    timezone: str | None = None  # defaults to [jobs] timezone
    enabled: bool = True
    params: dict[str, Any] = msgspec.field(default_factory=dict)  # declared params and their defaults
    retry: RetryPolicy = msgspec.field(default_factory=RetryPolicy)
    steps: list[dict[str, Any]] = msgspec.field(default_factory=list)


class JobsFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    jobs: list[dict[str, Any]] = msgspec.field(default_factory=list)
