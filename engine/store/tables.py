"""The job store's schema as SQLAlchemy Core tables. Table, column and index names are a public contract.

The migrations in `migrations/versions` must build exactly this; a test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from nomaflow.engine.store.columns import UTCDateTime, bigint_id, json_type
from nomaflow.states import RunState, StepState

# Every state of the machines a row can hold (a run is `pending` only in memory, before admission).
RUN_STATUSES = tuple(state.value for state in RunState if state is not RunState.PENDING)
STEP_STATUSES = tuple(state.value for state in StepState)

# The predicate of the one-running-run-per-job index. Inserts name it again as their conflict target,
# so it lives in one place.
RUNNING_PREDICATE = text("status = 'running'")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


metadata = MetaData()

job_runs = Table(
    "ly2_job_runs",
    metadata,
    Column("id", String(36), primary_key=True),  # a uuid4 made by the engine, so ids exist before the row
    Column("job_name", String(255), nullable=False),
    Column("app", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("triggered_by", String(255), nullable=False),
    Column("params", json_type(), nullable=False),
    Column("dry_run", Boolean(), nullable=False),
    Column("scheduled_for", UTCDateTime(), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("owner", String(255), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    Column("resumed_from", String(36), nullable=True),
    CheckConstraint(_one_of("status", RUN_STATUSES), name="ck_ly2_job_runs_status"),
    # A cron fire is (job, scheduled_for): a second replica firing the same instant cannot run it
    # again. Manual runs have no scheduled_for, and NULLs never collide.
    UniqueConstraint("job_name", "scheduled_for", name="uq_ly2_job_runs_fire"),
)

# At most one running run per job, across every engine process sharing the database.
Index(
    "ux_ly2_job_runs_running",
    job_runs.c.job_name,
    unique=True,
    sqlite_where=RUNNING_PREDICATE,
    postgresql_where=RUNNING_PREDICATE,
)
# Run history is listed newest first, keyset-paginated on (started_at, id), optionally by job or status.
Index("ix_ly2_job_runs_started", job_runs.c.started_at, job_runs.c.id)
Index("ix_ly2_job_runs_job_started", job_runs.c.job_name, job_runs.c.started_at)
Index("ix_ly2_job_runs_status_started", job_runs.c.status, job_runs.c.started_at)

step_runs = Table(
    "ly2_step_runs",
    metadata,
    Column("id", bigint_id(), primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("ly2_job_runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer(), nullable=False),
    Column("step_name", String(255), nullable=False),
    Column("type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False, server_default=text("0")),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("input", json_type(), nullable=True),
    Column("output", json_type(), nullable=True),
    Column("error", Text(), nullable=True),
    # The step ran dry (its own dry_run, or the run's): it counted what it would do and changed nothing.
    Column("dry_run", Boolean(), nullable=False, server_default=false()),
    CheckConstraint(_one_of("status", STEP_STATUSES), name="ck_ly2_step_runs_status"),
    UniqueConstraint("run_id", "position", name="uq_ly2_step_runs_position"),
)

job_logs = Table(
    "ly2_job_logs",
    metadata,
    Column("id", bigint_id(), primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("ly2_job_runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer(), nullable=False),  # the run's event number, shared with the published events
    Column("step_name", String(255), nullable=True),
    Column("ts", UTCDateTime(), nullable=False),
    Column("level", String(16), nullable=False),
    Column("message", Text(), nullable=False),
    Column("fields", json_type(), nullable=True),
)

# One unique index is both the "no two lines with one seq" rule and the index `logs --follow` reads by;
# a second, plain index on the same columns would only slow down every insert.
Index("ux_ly2_job_logs_seq", job_logs.c.run_id, job_logs.c.seq, unique=True)

jobs_lock = Table(
    "ly2_jobs_lock",
    metadata,
    Column("name", String(64), primary_key=True),  # e.g. 'scheduler'
    Column("holder", String(255), nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
)

# A job's operator-set state. No row means the job was never paused; a paused job is not fired by
# cron (manual triggers still run it). Kept here, not in jobs.toml, so pausing needs no redeploy.
job_state = Table(
    "ly2_job_state",
    metadata,
    Column("job_name", String(255), primary_key=True),
    Column("paused", Boolean(), nullable=False),
    Column("changed_by", String(255), nullable=False),  # e.g. 'user:alice', 'cli:bob', 'api (ci-bot)'
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("reason", Text(), nullable=True),
)

# REST `Idempotency-Key`s: the run a key was first used for, per token subject. The key is claimed
# before the run is dispatched, so there is no foreign key to ly2_job_runs.
idempotency_keys = Table(
    "ly2_idempotency_keys",
    metadata,
    Column("scope", String(255), primary_key=True),  # the token's subject
    Column("idempotency_key", String(255), primary_key=True),
    Column("job_name", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # sha256 of the request, to refuse a reused key
    Column("run_id", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
# Expired keys are deleted by age.
Index("ix_ly2_idempotency_keys_created", idempotency_keys.c.created_at)
