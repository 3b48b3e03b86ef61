"""The store's read side: the queries the CLI, the REST API and the UI need, newest first.

Reads run on their own pooled connections, beside the writer, and on SQLite never wait for its lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CompoundSelect, Select, column, func, literal, select, tuple_, values

from nomaflow.engine.store.columns import UTCDateTime
from nomaflow.engine.store.rows import (
    LOOKUPS_PER_QUERY,
    MAX_PAGE,
    JobState,
    LogRow,
    RunPage,
    RunRow,
    StepRow,
    decode_cursor,
    encode_cursor,
)
from nomaflow.engine.store.tables import job_logs, job_runs, job_state, step_runs
from nomaflow.states import RunState

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_STEP_COLUMNS = [step_runs.c[name] for name in StepRow.__struct_fields__]
_LOG_COLUMNS = [job_logs.c[name] for name in LogRow.__struct_fields__]


class RunReader:
    def __init__(self, engine: AsyncEngine) -> None:
        from nomaflow.engine.store.database import for_reading

        self._reader = for_reading(engine)

    async def _all(self, query: Select[Any] | CompoundSelect[Any]) -> list[dict[str, Any]]:
        async with self._reader.connect() as connection:
            result = await connection.execute(query)
            return [dict(row) for row in result.mappings()]

    async def get_run(self, run_id: str) -> RunRow | None:
        rows = await self._all(select(job_runs).where(job_runs.c.id == run_id))
        return RunRow(**rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        job: str | None = None,
        status: str | None = None,
        triggered_by: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> RunPage:
        """Runs newest first (by started_at, then id), filtered; `since` is inclusive, `until`
        exclusive. `before` is the `next_cursor` of the previous page."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        query = select(job_runs)
        if job is not None:
            query = query.where(job_runs.c.job_name == job)
        if status is not None:
            query = query.where(job_runs.c.status == status)
        if triggered_by is not None:
            query = query.where(job_runs.c.triggered_by == triggered_by)
        if since is not None:
            query = query.where(job_runs.c.started_at >= since)
        if until is not None:
            query = query.where(job_runs.c.started_at < until)
        if before is not None:
            started_at, run_id = decode_cursor(before)
            # A row-value comparison, so the (started_at, id) index serves the keyset directly.
            query = query.where(
                tuple_(job_runs.c.started_at, job_runs.c.id)
                < tuple_(literal(started_at, UTCDateTime()), literal(run_id, job_runs.c.id.type))
            )
        # One extra row says whether there is a next page, without a COUNT.
        query = query.order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc()).limit(limit + 1)
        runs = [RunRow(**row) for row in await self._all(query)]
        if len(runs) <= limit:
            return RunPage(runs=runs, next_cursor=None)
        runs = runs[:limit]
        return RunPage(runs=runs, next_cursor=encode_cursor(runs[-1].started_at, runs[-1].id))

    async def get_steps(self, run_id: str) -> list[StepRow]:
        query = select(*_STEP_COLUMNS).where(step_runs.c.run_id == run_id).order_by(step_runs.c.position)
        return [StepRow(**row) for row in await self._all(query)]

    async def get_logs(self, run_id: str, *, after_seq: int = 0, limit: int = MAX_PAGE) -> list[LogRow]:
        """The run's log lines (transitions included) with seq > `after_seq`, in seq order."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        query = (
            select(*_LOG_COLUMNS)
            .where(job_logs.c.run_id == run_id, job_logs.c.seq > after_seq)
            .order_by(job_logs.c.seq)
            .limit(limit)
        )
        return [LogRow(**row) for row in await self._all(query)]

    async def last_logs(self, run_id: str, *, limit: int) -> list[LogRow]:
        """The run's last `limit` log rows (transitions included), in seq order."""
        query = (
            select(*_LOG_COLUMNS)
            .where(job_logs.c.run_id == run_id)
            .order_by(job_logs.c.seq.desc())
            .limit(limit)
        )
        return [LogRow(**row) for row in reversed(await self._all(query))]

    async def last_fires(self) -> dict[str, datetime]:
        """Each job's latest recorded cron fire (scheduled_for), whatever became of it."""
        # type_ keeps the column's UTC handling on the aggregate (SQLite would hand back a string).
        latest = func.max(job_runs.c.scheduled_for, type_=UTCDateTime()).label("latest")
        query = (
            select(job_runs.c.job_name, latest)
            .where(job_runs.c.scheduled_for.is_not(None))
            .group_by(job_runs.c.job_name)
        )
        return {row["job_name"]: row["latest"] for row in await self._all(query) if row["latest"] is not None}

    async def last_successes(self) -> dict[str, datetime]:
        """Each job's latest successful run's end."""
        latest = func.max(job_runs.c.finished_at, type_=UTCDateTime()).label("latest")
        query = (
            select(job_runs.c.job_name, latest)
            .where(job_runs.c.status == RunState.SUCCEEDED.value)
            .group_by(job_runs.c.job_name)
        )
        return {row["job_name"]: row["latest"] for row in await self._all(query) if row["latest"] is not None}

    async def job_states(self) -> dict[str, JobState]:
        """Every job's recorded pause state, by job name (jobs never paused have none)."""
        return {row["job_name"]: JobState(**row) for row in await self._all(select(job_state))}

    async def last_runs_by_job(
        self, *, include_skipped: bool = True, jobs: Iterable[str] | None = None
    ) -> dict[str, RunRow]:
        """Each job's latest run (by started_at, then id), keyed by job name. Jobs never run are absent.

        Given the `jobs` to look at, each is one index lookup on (job_name, started_at), which stays
        fast on millions of runs; without, every run is ranked."""
        if jobs is not None:
            return await self._last_runs_of(list(jobs), include_skipped)
        candidates = select(job_runs)
        if not include_skipped:
            candidates = candidates.where(job_runs.c.status != RunState.SKIPPED.value)
        ranked = candidates.add_columns(
            func.row_number()
            .over(
                partition_by=job_runs.c.job_name,
                order_by=(job_runs.c.started_at.desc(), job_runs.c.id.desc()),
            )
            .label("recency")
        ).subquery()
        query = select(*[ranked.c[column.name] for column in job_runs.c]).where(ranked.c.recency == 1)
        rows = [RunRow(**row) for row in await self._all(query)]
        return {row.job_name: row for row in rows}

    async def _last_runs_of(self, names: list[str], include_skipped: bool) -> dict[str, RunRow]:
        found: dict[str, RunRow] = {}
        for start in range(0, len(names), LOOKUPS_PER_QUERY):
            query = _latest_of(names[start : start + LOOKUPS_PER_QUERY], include_skipped)
            found |= {row["job_name"]: RunRow(**row) for row in await self._all(query)}
        return found


def _latest_of(names: list[str], include_skipped: bool) -> Select[Any]:
    """Each named job's latest run: the names as a VALUES list, each joined to the run its own index
    lookup on (job_name, started_at) finds. One small statement whatever the number of names: a UNION
    of one subquery per job did the same lookups but cost far more to build and compile (for 200
    jobs, most of `nomaflow jobs list`'s time) than to run."""
    wanted = values(column("job_name", job_runs.c.job_name.type), name="wanted").data(
        [(name,) for name in names]
    )
    wanted_names = wanted.cte("wanted")
    candidate = job_runs.alias("candidate")
    newest = select(candidate.c.id).where(candidate.c.job_name == wanted_names.c.job_name)
    if not include_skipped:
        newest = newest.where(candidate.c.status != RunState.SKIPPED.value)
    newest_id = (
        newest.order_by(candidate.c.started_at.desc(), candidate.c.id.desc()).limit(1).scalar_subquery()
    )
    return select(job_runs).select_from(wanted_names).join(job_runs, job_runs.c.id == newest_id)
