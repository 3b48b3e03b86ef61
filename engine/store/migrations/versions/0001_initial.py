"""The initial job store: runs, steps, logs and the scheduler's leader lock.

Revision ID: 0001
Revises:
Create Date: 2024-11-28
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the DDL side of engine.store.columns: a migration must keep building what it built
# the day it was written, whatever the models become.


def _timestamp() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _bigint_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "ly2_job_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("app", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("triggered_by", sa.String(255), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("scheduled_for", _timestamp(), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", _timestamp(), nullable=True),
        sa.Column("resumed_from", sa.String(36), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'aborted', 'skipped')",
            name="ck_ly2_job_runs_status",
        ),
        sa.UniqueConstraint("job_name", "scheduled_for", name="uq_ly2_job_runs_fire"),
    )
    op.create_index(
        "ux_ly2_job_runs_running",
        "ly2_job_runs",
        ["job_name"],
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )
    op.create_index("ix_ly2_job_runs_started", "ly2_job_runs", ["started_at", "id"])
    op.create_index("ix_ly2_job_runs_job_started", "ly2_job_runs", ["job_name", "started_at"])
    op.create_index("ix_ly2_job_runs_status_started", "ly2_job_runs", ["status", "started_at"])

    op.create_table(
        "ly2_step_runs",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(36), sa.ForeignKey("ly2_job_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("input", _json(), nullable=True),
        sa.Column("output", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'retrying', 'succeeded', 'failed', 'aborted', 'skipped')",
            name="ck_ly2_step_runs_status",
        ),
        sa.UniqueConstraint("run_id", "position", name="uq_ly2_step_runs_position"),
    )

    op.create_table(
        "ly2_job_logs",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(36), sa.ForeignKey("ly2_job_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=True),
        sa.Column("ts", _timestamp(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", _json(), nullable=True),
    )
    op.create_index("ux_ly2_job_logs_seq", "ly2_job_logs", ["run_id", "seq"], unique=True)

    op.create_table(
        "ly2_jobs_lock",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", _timestamp(), nullable=False),
        sa.Column("heartbeat_at", _timestamp(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ly2_jobs_lock")
    op.drop_table("ly2_job_logs")
    op.drop_table("ly2_step_runs")
    op.drop_table("ly2_job_runs")
