"""Paused jobs and REST idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2024-12-02
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _timestamp() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ly2_job_state",
        sa.Column("job_name", sa.String(255), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", _timestamp(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_table(
        "ly2_idempotency_keys",
        sa.Column("scope", sa.String(255), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
    )
    op.create_index("ix_ly2_idempotency_keys_created", "ly2_idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("ly2_idempotency_keys")
    op.drop_table("ly2_job_state")
