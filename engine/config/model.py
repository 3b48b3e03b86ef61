"""The shape of an install's configuration: `app.toml` and every `plugins/<app>/jobs.toml`.

These Structs are decoded by `nomaflow.engine.config.load`, which reports every problem with its file,
line and field path. Defaults here are the documented defaults (docs/configuration.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from nomaflow.actors.retry import RetryPolicy


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
    # Retention (docs/operations.md#retention): the built-in job nomaflow-cleanup deletes finished runs
    # older than history_days, failed ones older than keep_failed_days if set; 0 keeps them forever.
    history_days: Annotated[int, msgspec.Meta(ge=0)] = 90
    keep_failed_days: Annotated[int, msgspec.Meta(ge=0)] | None = None
    cleanup_batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500  # runs deleted per transaction
    timezone: str = "UTC"  # for jobs that name none
    plugins: str = "plugins"  # folder holding <app>/jobs.toml, relative to app.toml
    shutdown_grace_seconds: float = 30.0
    worker_threads: int = 20  # threads available to sync python steps at once
    # Crash recovery: each engine stamps its running runs every heartbeat; a run of another engine not
    # stamped for interrupted_after_seconds is marked failed as interrupted (docs/operations.md).
    heartbeat_seconds: float = 5.0
    interrupted_after_seconds: float = 30.0
    # Scheduler leadership: how often the lock is checked, and (SQLite) how long a lease lasts.
    leader_renew_seconds: float = 2.0
    leader_lease_seconds: float = 10.0


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[server]`: where `nomaflow serve` listens, and how its API behaves (docs/api.md)."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Several server processes share Socket.IO events through this Redis (e.g. "redis://127.0.0.1:6379/0").
    socketio_redis_url: str | None = None
    socketio_redis_channel: str = "nomaflow"  # one per install, when several share one Redis
    # Browser origins allowed to open a Socket.IO connection; empty means the server's own origin only.
    cors_origins: list[str] = msgspec.field(default_factory=list)
    max_body_bytes: int = 1024 * 1024  # larger request bodies are refused with 413
    idempotency_hours: float = 24.0  # how long an Idempotency-Key keeps answering with its run
    metrics_auth: bool = False  # true: /metrics needs a viewer token like the rest of the API


class UserSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[auth.users.<name>]`: a UI user (written by `nomaflow user add`)."""

    password_hash: str  # argon2id, never the password itself
    role: Literal["viewer", "operator", "admin"] = "viewer"


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[auth]`: how API tokens are signed and checked (docs/auth.md). Tokens are HS256 JWTs."""

    # The signing secret, at least 32 characters; usually "${env.NOMAFLOW_JWT_SECRET}". Absent: the
    # API answers 401 to everything but /health (and /metrics unless [server] metrics_auth).
    secret: str | None = None
    issuer: str = "nomaflow"
    audience: str = "nomaflow-api"
    login_ttl_seconds: int = 8 * 3600  # tokens handed out by POST /admin/login
    users: dict[str, UserSettings] = msgspec.field(default_factory=dict)


class HttpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[http]`: what `http` steps may reach and how much they may read (docs/steps/http.md)."""

    # Hosts a step may send to, redirects included: "api.example.com", "*.example.com" (any subdomain),
    # "127.0.0.1:8080" (that port only), or "*" (anywhere). Empty: http steps may call nothing.
    allowed_hosts: list[str] = msgspec.field(default_factory=list)
    timeout_seconds: float = (
        30.0  # connect, each read, each write; the step's own timeout_seconds bounds it all
    )
    max_response_bytes: int = 1024 * 1024  # body kept in the output; the rest is never read
    max_redirects: int = 10


class AppSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole of app.toml."""

    connectors: dict[str, ConnectorSettings] = msgspec.field(default_factory=dict)
    jobs: JobsSettings = msgspec.field(default_factory=JobsSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)


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
    timeout_seconds: float | None = None  # for the whole run; it then fails as timed out
    # Fires that were due while no engine was scheduling (docs/operations.md#missed-fires).
    catch_up: Literal["skip", "latest", "all"] = "latest"
    catch_up_window: str = "1h"
    # A run whose engine died mid-run is marked failed; "resume" also starts a recovery run.
    on_interrupt: Literal["fail", "resume"] = "fail"
    alert_if_no_success_within: str | None = None  # e.g. "26h": runs the on_failure hooks if so
    steps: list[dict[str, Any]] = msgspec.field(default_factory=list)
    on_failure: list[dict[str, Any]] = msgspec.field(default_factory=list)  # steps run after a failed run
    on_success: list[dict[str, Any]] = msgspec.field(default_factory=list)  # steps run after a success


class JobsFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    jobs: list[dict[str, Any]] = msgspec.field(default_factory=list)
