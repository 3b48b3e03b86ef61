"""The shape of an install's configuration: `app.toml` and every `plugins/<app>/jobs.toml`.

These Structs are decoded by `nomaflow.engine.config.load`, which reports every problem with its file,
line and field path. Defaults here are the documented defaults (docs/configuration.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from nomaflow.actors.retry import RetryPolicy

# Every number has bounds: msgspec refuses a value outside them, nan and inf included (nan fails every
# comparison, so `gt`/`ge` alone already refuse it; `le` refuses inf). The ranges are documented in
# docs/configuration.md; `nomaflow check` names the field and the bound that failed.
MINUTE = 60
HOUR = 3600
DAY = 86_400
WEEK = 7 * DAY
# A whole-run or per-attempt timeout: past 30 days a run is better split than timed.
MAX_TIMEOUT_SECONDS = 30 * DAY


def _between(low: float, high: float, *, above: bool = False) -> msgspec.Meta:
    """`low <= value <= high`, or `low < value <= high` when `above`."""
    return msgspec.Meta(gt=low, le=high) if above else msgspec.Meta(ge=low, le=high)


Timeout = Annotated[float, _between(0, MAX_TIMEOUT_SECONDS, above=True)]
Port = Annotated[int, _between(0, 65_535)]


class ConnectorSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[connectors.<name>]`: a database the engine or SQL steps connect to. `default` is the job store."""

    url: str
    pool_size: Annotated[int, _between(1, 1000)] = 5
    max_overflow: Annotated[int, _between(0, 1000)] = 10
    pool_timeout_seconds: Annotated[float, _between(0, HOUR, above=True)] = 30.0
    # -1: never replace a connection for its age.
    pool_recycle_seconds: Annotated[float, _between(-1, WEEK)] = 1800.0


class JobsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[jobs]`: engine-wide settings."""

    scheduler_enabled: bool = True
    # Retention (docs/operations.md#retention): the built-in job nomaflow-cleanup deletes finished runs
    # older than history_days, failed ones older than keep_failed_days if set; 0 keeps them forever.
    history_days: Annotated[int, _between(0, 36_500)] = 90
    keep_failed_days: Annotated[int, _between(0, 36_500)] | None = None
    cleanup_batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500  # runs deleted per transaction
    timezone: str = "UTC"  # for jobs that name none
    plugins: str = "plugins"  # folder holding <app>/jobs.toml, relative to app.toml
    shutdown_grace_seconds: Annotated[float, _between(0, DAY)] = 30.0
    worker_threads: Annotated[int, _between(1, 1000)] = 20  # threads available to sync python steps at once
    # Crash recovery: each engine stamps its running runs every heartbeat; a run of another engine not
    # stamped for interrupted_after_seconds is marked failed as interrupted (docs/operations.md).
    # interrupted_after_seconds must be at least twice heartbeat_seconds (engine/config/relations.py).
    heartbeat_seconds: Annotated[float, _between(0.1, HOUR)] = 5.0
    interrupted_after_seconds: Annotated[float, _between(0.2, WEEK)] = 30.0
    # Scheduler leadership: how often the lock is checked, and (SQLite) how long a lease lasts; the
    # lease must be at least twice the renewal period.
    leader_renew_seconds: Annotated[float, _between(0.1, HOUR)] = 2.0
    leader_lease_seconds: Annotated[float, _between(0.2, DAY)] = 10.0


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[server]`: where `nomaflow serve` listens, and how its API behaves (docs/api.md)."""

    host: str = "127.0.0.1"
    port: Port = 8000
    # Several server processes share Socket.IO events through this Redis (e.g. "redis://127.0.0.1:6379/0").
    socketio_redis_url: str | None = None
    socketio_redis_channel: str = "nomaflow"  # one per install, when several share one Redis
    # Browser origins allowed to open a Socket.IO connection; empty means the server's own origin only.
    cors_origins: list[str] = msgspec.field(default_factory=list)
    # Larger request bodies are refused with 413.
    max_body_bytes: Annotated[int, _between(1024, 1024**3)] = 1024 * 1024
    # How long an Idempotency-Key keeps answering with its run.
    idempotency_hours: Annotated[float, _between(0, 24 * 366, above=True)] = 24.0
    metrics_auth: bool = False  # true: /metrics needs a viewer token like the rest of the API


class UserSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[auth.users.<name>]`: a UI user (written by `nomaflow user add`)."""

    password_hash: str  # argon2id, never the password itself
    role: Literal["viewer", "operator", "admin"] = "viewer"


class LoginLimits(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[auth.login_limits]`: how POST /admin/login resists password guessing (docs/auth.md)."""

    # Failed logins a username, or an address, may have before each further failure locks it out.
    user_free_attempts: Annotated[int, _between(1, 1000)] = 5
    address_free_attempts: Annotated[int, _between(1, 10_000)] = 20
    # The lockout after a failure beyond the free ones: doubles with each, up to the maximum.
    backoff_initial_seconds: Annotated[float, _between(0, HOUR, above=True)] = 1.0
    backoff_max_seconds: Annotated[float, _between(0, DAY, above=True)] = 900.0
    # Failures older than this are forgotten (the count starts again from zero).
    forget_after_seconds: Annotated[float, _between(1, WEEK)] = 3600.0
    # Password checks computed at once (each holds argon2's memory, and with p > 1 several cores), and
    # how many may wait for one; past that, a login is answered 429 at once, before any hashing.
    hashing_slots: Annotated[int, _between(1, 64)] = 1
    hashing_queue: Annotated[int, _between(0, 10_000)] = 32
    # Usernames and addresses remembered at most (each table); the least recently seen go first.
    tracked: Annotated[int, _between(100, 1_000_000)] = 10_000


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[auth]`: how API tokens are signed and checked (docs/auth.md). Tokens are HS256 JWTs."""

    # The signing secret, at least 32 characters; usually "${env.NOMAFLOW_JWT_SECRET}". Absent: the
    # API answers 401 to everything but /health (and /metrics unless [server] metrics_auth).
    secret: str | None = None
    issuer: str = "nomaflow"
    audience: str = "nomaflow-api"
    login_ttl_seconds: Annotated[int, _between(MINUTE, 366 * DAY)] = 8 * 3600  # tokens from POST /admin/login
    login_limits: LoginLimits = msgspec.field(default_factory=LoginLimits)
    users: dict[str, UserSettings] = msgspec.field(default_factory=dict)


class HttpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[http]`: what `http` steps may reach and how much they may read (docs/steps/http.md)."""

    # Hosts a step may send to, redirects included: "api.example.com", "*.example.com" (any subdomain),
    # "127.0.0.1:8080" (that port only), or "*" (anywhere). Empty: http steps may call nothing.
    allowed_hosts: list[str] = msgspec.field(default_factory=list)
    # Connect, each read, each write; the step's own timeout_seconds bounds it all.
    timeout_seconds: Annotated[float, _between(0, DAY, above=True)] = 30.0
    # Body kept in the output; the rest is never read.
    max_response_bytes: Annotated[int, _between(1, 1024**3)] = 1024 * 1024
    max_redirects: Annotated[int, _between(0, 100)] = 10


class TelemetrySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`[telemetry]`: what the engine adds to the host's logging and tracing (docs/logging.md)."""

    # Records of the standard logging module made while a step runs go to that run's log too.
    capture_logging: bool = True
    capture_level: Literal["debug", "info", "warning", "error"] = "info"
    capture_limit: Annotated[int, _between(0, 1_000_000)] = 1000  # captured records kept per run
    # A run is a trace and each step attempt a span: needs `pip install 'nomaflow[otel]'`.
    opentelemetry: bool = False


class AppSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole of app.toml."""

    connectors: dict[str, ConnectorSettings] = msgspec.field(default_factory=dict)
    jobs: JobsSettings = msgspec.field(default_factory=JobsSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)


# Keys every step table has, whatever its type; all other keys are the step type's own options.
STEP_COMMON_KEYS = ("name", "type", "description", "retry", "timeout_seconds", "dry_run")


class StepSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The common part of a `[[jobs.steps]]` table."""

    name: str
    type: str
    description: str = ""
    retry: RetryPolicy | None = None  # replaces the job's [jobs.retry] for this step
    timeout_seconds: Timeout | None = None  # per attempt
    # Count what the step would do, change nothing (docs/configuration.md#dry-runs); a dry run of the
    # whole run turns it on for every step.
    dry_run: bool = False


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
    timeout_seconds: Timeout | None = None  # for the whole run; it then fails as timed out
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
