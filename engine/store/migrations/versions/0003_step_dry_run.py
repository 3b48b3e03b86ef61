"""Steps remember whether they ran dry (their own dry_run, or the run's).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Steps recorded before this revision ran dry only inside a dry run of the whole run.
    with op.batch_alter_table("ly2_step_runs") as table:
        table.add_column(sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE ly2_step_runs SET dry_run = TRUE WHERE run_id IN (SELECT id FROM ly2_job_runs WHERE dry_run)"
    )


def downgrade() -> None:
    with op.batch_alter_table("ly2_step_runs") as table:
        table.drop_column("dry_run")
