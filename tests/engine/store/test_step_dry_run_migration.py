"""Revision 0003 adds ly2_step_runs.dry_run: steps recorded before it ran dry only in a dry run of their
whole run, and say so after the upgrade; the others say false."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from nomaflow.engine.store import create_engine, upgrade

pytestmark = pytest.mark.anyio

_RUN = (
    "INSERT INTO ly2_job_runs (id, job_name, app, status, triggered_by, params, dry_run, started_at) "
    "VALUES (:id, :job, 'app', 'succeeded', 'api', '{}', :dry, '2026-01-01 00:00:00+00:00')"
)
_STEP = (
    "INSERT INTO ly2_step_runs (run_id, position, step_name, type, status, attempts) "
    "VALUES (:run_id, 0, 'load', 'sql_query', 'succeeded', 1)"
)


async def test_steps_of_earlier_dry_runs_are_marked_dry(empty_database_url: str) -> None:
    await upgrade(empty_database_url, "0002")
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            for run_id, job, dry in (("r-dry", "a", True), ("r-real", "b", False)):
                await connection.execute(text(_RUN), {"id": run_id, "job": job, "dry": dry})
                await connection.execute(text(_STEP), {"run_id": run_id})
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT run_id, dry_run FROM ly2_step_runs ORDER BY run_id"))
            assert [(run_id, bool(dry)) for run_id, dry in rows] == [("r-dry", True), ("r-real", False)]
    finally:
        await engine.dispose()
