"""What the REST API takes and answers, as pydantic models: they are its OpenAPI schema (docs/api.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from nomaflow.actors.jsonable import unstorable
from nomaflow.engine.store import LogRow, RunRow, StepRow, shapes
from nomaflow.engine.store.rows import JobState
from nomaflow.states import RunState


def _storable(text: str) -> str:
    fault = unstorable(text)
    if fault is not None:
        raise ValueError(f"contains {fault[0]}, which cannot be stored")
    return text


# Text a request may carry into the job store or a log line: NUL and lone surrogates are a 422 here.
StoredText = Annotated[str, AfterValidator(_storable)]


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


# A moment with a UTC offset, as UTC: 0001-01-01T00:00:00+14:00 has no UTC equivalent and is a 422.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]

# The statuses a run is stored with (`pending` never leaves the engine): OpenAPI lists their values, as
# it did when they were spelled out, and a request's value validates to the `RunState` member.
RunStatus = Literal[RunState.RUNNING, RunState.SUCCEEDED, RunState.FAILED, RunState.ABORTED, RunState.SKIPPED]
RoleName = Literal["viewer", "operator", "admin"]


class _In(BaseModel):
    """Request bodies: unknown fields are refused (422 naming them), so a typo is never ignored; types
    are strict JSON types ("true" is not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Problem(BaseModel):
    detail: str = Field(description="What was wrong, in a sentence.")


# --- jobs ---


class StepInfo(BaseModel):
    name: str
    type: str
    description: str
    dry_run: bool = Field(description="Its definition says dry_run = true: it always runs dry.")


class JobStateOut(BaseModel):
    paused: bool
    changed_by: str = Field(description="Who paused or resumed it last: user:<name>, cli:<name>, api:<sub>.")
    changed_at: datetime
    reason: str | None

    @classmethod
    def of(cls, state: JobState) -> JobStateOut:
        return cls(**shapes.job_state_out(state))


class RunSummary(BaseModel):
    id: str
    status: RunStatus
    triggered_by: str
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: RunRow) -> RunSummary:
        return cls(**shapes.run_summary(run))


class JobOut(BaseModel):
    name: str
    app: str
    description: str
    schedule: str | None = Field(description="Cron expression; null for on-demand jobs.")
    timezone: str
    enabled: bool = Field(description="false in jobs.toml: cron never fires it.")
    paused: bool = Field(description="Paused by an operator: cron does not fire it; manual runs still work.")
    state: JobStateOut | None = Field(description="The last pause or resume; null if there never was one.")
    next_fire: datetime | None = Field(
        description="When cron fires it next (null: disabled, paused, or none)."
    )
    running: str | None = Field(description="The id of its run in flight, if any.")
    last_run: RunSummary | None
    params: dict[str, Any] = Field(description="Declared params and their defaults.")
    steps: list[StepInfo]


class PauseIn(_In):
    reason: StoredText | None = Field(default=None, max_length=500)


# --- runs ---


class TriggerIn(_In):
    params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the job's declared params (same types as defaults)."
    )
    dry_run: bool = Field(default=False, description="Ask every step to only count what it would do.")


class TriggerOut(BaseModel):
    run_id: str
    job: str
    status: RunStatus = Field(description="running, or skipped when the job was already running.")
    triggered_by: str
    replayed: bool = Field(
        description="true when an earlier request with the same Idempotency-Key created this run."
    )


class RunOut(BaseModel):
    id: str
    job: str
    app: str
    status: RunStatus
    triggered_by: str
    params: dict[str, Any]
    dry_run: bool
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    owner: str | None = Field(description="The engine instance that runs (or ran) it.")
    resumed_from: str | None = Field(description="For a retry: the run it continues.")

    @classmethod
    def of(cls, run: RunRow) -> RunOut:
        return cls(**shapes.run_out(run))


class StepOut(BaseModel):
    position: int
    name: str
    type: str
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    input: dict[str, Any] | None = Field(
        description="Snapshot of what the step was given (secrets redacted)."
    )
    output: Any = Field(description="Snapshot of what the step returned (size-capped).")
    error: str | None
    dry_run: bool = Field(
        description="It ran dry (its own dry_run, or the run's): counted what it would do, changed nothing."
    )

    @classmethod
    def of(cls, step: StepRow) -> StepOut:
        return cls(**shapes.step_out(step))


class RunDetail(RunOut):
    steps: list[StepOut]


class RunPageOut(BaseModel):
    runs: list[RunOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last."
    )


class LogLineOut(BaseModel):
    seq: int = Field(description="The run's event number: the same `seq` as its Socket.IO events.")
    at: datetime
    step: str | None
    level: str
    message: str
    fields: dict[str, Any] | None = Field(
        description='Structured data; {"event": "transition", ...} for state changes, '
        '{"event": "audit", ...} for operator actions.'
    )

    @classmethod
    def of(cls, row: LogRow) -> LogLineOut:
        return cls(**shapes.log_line(row))


class LogsOut(BaseModel):
    lines: list[LogLineOut]
    last_seq: int = Field(
        description="The highest seq returned (or `after_seq` when none): ask after it next."
    )
    run_status: RunStatus


class StepDiagram(BaseModel):
    step: str
    status: str
    mermaid: str


class DiagramOut(BaseModel):
    run: str = Field(description="The run machine as a mermaid stateDiagram-v2, its path highlighted.")
    steps: list[StepDiagram]


class AbortIn(_In):
    reason: StoredText | None = Field(default=None, max_length=500)


class AbortOut(BaseModel):
    run_id: str
    status: RunStatus
    abort_requested: bool = Field(description="false when the run had already ended aborted.")


# --- login ---


class LoginIn(_In):
    username: StoredText = Field(min_length=1, max_length=200)
    password: StoredText = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    subject: str
    role: RoleName


class SessionOut(BaseModel):
    signed_in: bool
    subject: str | None = Field(None, description="Who the server takes the caller to be.")
    role: RoleName | None = None
    kind: Literal["user", "service", "host"] | None = Field(
        None,
        description="`user`: a token from POST /admin/login; `service`: a token from "
        "`nomaflow token create`; `host`: signed in by the application Nomaflow is mounted in.",
    )
    reason: str | None = Field(None, description="Why the caller is not signed in.")
    password_sign_in: bool = Field(
        description="POST /admin/login can be used: [auth] has a secret and users."
    )
    host_sign_in: bool = Field(
        description="The application Nomaflow is mounted in signs its users in itself."
    )


class StoreOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`degraded` while the job store does not take writes (down, restarting, disk full, "
        "read-only, locked); the engine waits it out and returns to `ok` by itself."
    )
    reason: str | None = Field(
        description="While degraded: which part of the engine failed to write, and why."
    )
    since: datetime | None = Field(description="While degraded: when it began.")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`ok`, or `degraded` while the job store is unavailable (see `store`): runs wait between "
        "steps, cron pauses, triggers get 503 with Retry-After. Either way the process is alive (200)."
    )
    instance: str
    scheduler: bool
    in_flight: int
    jobs: int
    store: StoreOut
