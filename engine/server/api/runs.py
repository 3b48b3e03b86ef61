"""/admin/runs: run history (filtered, keyset-paginated), one run with its steps, its log, its
diagram; abort and retry."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, HTTPException, Path, Query, Response

from nomaflow.actors.errors import EngineStopping, UnknownJob
from nomaflow.actors.events import TERMINAL_EVENTS, AnyEvent
from nomaflow.engine.engine import Engine, RetryRefused
from nomaflow.engine.events.bus import Lagged
from nomaflow.engine.events.diagrams import run_diagram, step_diagram, transition_paths
from nomaflow.engine.server.api.boundary import BODY_ERRORS, BoundaryRoute
from nomaflow.engine.server.api.schemas import (
    AbortIn,
    AbortOut,
    DiagramOut,
    Instant,
    LogLineOut,
    LogsOut,
    Problem,
    RunDetail,
    RunOut,
    RunPageOut,
    RunStatus,
    StepDiagram,
    StepOut,
    StoredText,
    TriggerOut,
)
from nomaflow.engine.server.auth.audit import audit, who
from nomaflow.engine.server.deps import AUTH_ERRORS, Client, EngineDep, Operator, Viewer
from nomaflow.engine.store import BadCursor, RunRow
from nomaflow.states import RunState

router = APIRouter(prefix="/admin/runs", tags=["runs"], route_class=BoundaryRoute)

MAX_PAGE = 200
MAX_LOG_PAGE = 1000
MAX_WAIT_SECONDS = 60.0
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No run with this id."},
    422: {"description": "The run id is not a UUID, or a parameter is malformed."},
}
RunId = Annotated[uuid.UUID, Path(description="The run's id (a UUID).")]
Wait = Annotated[
    float,
    Query(ge=0, le=MAX_WAIT_SECONDS, description="Long-poll: wait up to this many seconds for news."),
]


async def _run(engine: Engine, run_id: uuid.UUID) -> RunRow:
    run = await engine.store.get_run(str(run_id))
    if run is None:
        raise HTTPException(404, f"no run with id {run_id}")
    return run


async def _wait_for_event(
    engine: Engine,
    run_id: str,
    seconds: float,
    ready: Callable[[], Awaitable[bool]],
    wanted: Callable[[AnyEvent], bool],
) -> None:
    """Wait (at most `seconds`) for an event of the run that `wanted` accepts, unless `ready()` already
    says the store has what the caller needs. Subscribing before checking means nothing slips between.
    A run in flight in another process publishes nothing here: the wait then simply times out."""
    subscription = engine.bus.subscribe(run_id, buffer=1000)
    try:
        if await ready():
            return
        with anyio.move_on_after(seconds):
            async for event in subscription:
                if wanted(event):
                    return
    except Lagged:
        return  # plenty happened: the caller re-reads the store
    finally:
        subscription.close()


@router.get("", response_model=RunPageOut, responses={**AUTH_ERRORS, 422: {"description": "Bad filter."}})
async def list_runs(
    engine: EngineDep,
    _: Viewer,
    job: Annotated[StoredText | None, Query(max_length=255)] = None,
    status: RunStatus | None = None,
    triggered_by: Annotated[
        StoredText | None, Query(max_length=255, description="e.g. cron, api, user:alice")
    ] = None,
    since: Annotated[Instant | None, Query(description="Started at or after (with a UTC offset).")] = None,
    until: Annotated[Instant | None, Query(description="Started before (with a UTC offset).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        StoredText | None, Query(max_length=500, description="`next_cursor` of the previous page.")
    ] = None,
) -> RunPageOut:
    """Runs newest first, filtered; pages through history with `cursor` (keyset, stable under inserts)."""
    try:
        page = await engine.store.list_runs(
            job=job,
            status=status,
            triggered_by=triggered_by,
            since=since,
            until=until,
            limit=limit,
            before=cursor,
        )
    except BadCursor as exc:
        raise HTTPException(
            422, [{"loc": ["query", "cursor"], "msg": str(exc), "type": "bad_cursor"}]
        ) from None
    return RunPageOut(runs=[RunOut.of(run) for run in page.runs], next_cursor=page.next_cursor)


@router.get("/{run_id}", response_model=RunDetail, responses={**AUTH_ERRORS, **NOT_FOUND})
async def get_run(run_id: RunId, engine: EngineDep, _: Viewer, wait: Wait = 0) -> RunDetail:
    """A run with its steps' snapshots (input, output, attempts, timing, error). With `wait`, answers
    as soon as the run has ended, or after `wait` seconds with its state then."""
    run = await _run(engine, run_id)
    if wait > 0 and run.status == RunState.RUNNING:

        async def ended() -> bool:
            nonlocal run
            run = await _run(engine, run_id)
            return run.status != RunState.RUNNING

        await _wait_for_event(engine, run.id, wait, ended, lambda event: isinstance(event, TERMINAL_EVENTS))
        run = await _run(engine, run_id)
    steps = await engine.store.get_steps(run.id)
    return RunDetail(**RunOut.of(run).model_dump(), steps=[StepOut.of(step) for step in steps])


@router.get("/{run_id}/logs", response_model=LogsOut, responses={**AUTH_ERRORS, **NOT_FOUND})
async def get_logs(
    run_id: RunId,
    engine: EngineDep,
    _: Viewer,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1, description="Only lines with a greater seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE)] = MAX_LOG_PAGE,
    wait: Wait = 0,
) -> LogsOut:
    """The run's log lines and state transitions in seq order, after `after_seq`. With `wait`, a
    long-poll: answers as soon as there is a line to send or the run has ended."""
    run = await _run(engine, run_id)
    rows = await engine.store.get_logs(run.id, after_seq=after_seq, limit=limit)
    if not rows and wait > 0 and run.status == RunState.RUNNING:

        async def news() -> bool:
            nonlocal rows, run
            run = await _run(engine, run_id)
            rows = await engine.store.get_logs(run.id, after_seq=after_seq, limit=limit)
            return bool(rows) or run.status != RunState.RUNNING

        await _wait_for_event(engine, run.id, wait, news, lambda event: event.seq > after_seq)
        run = await _run(engine, run_id)
        rows = await engine.store.get_logs(run.id, after_seq=after_seq, limit=limit)
    return LogsOut(
        lines=[LogLineOut.of(row) for row in rows],
        last_seq=rows[-1].seq if rows else after_seq,
        run_status=run.status,  # type: ignore[arg-type]
    )


@router.get("/{run_id}/diagram", response_model=DiagramOut, responses={**AUTH_ERRORS, **NOT_FOUND})
async def get_diagram(run_id: RunId, engine: EngineDep, _: Viewer) -> DiagramOut:
    """The run's and each step's state machine as mermaid, with the path this run took highlighted."""
    run = await _run(engine, run_id)
    steps = await engine.store.get_steps(run.id)
    fields: list[dict[str, Any] | None] = []
    after = 0
    while rows := await engine.store.get_logs(run.id, after_seq=after):
        fields.extend(row.fields for row in rows)
        after = rows[-1].seq
    run_path, step_paths = transition_paths(fields)
    return DiagramOut(
        run=run_diagram(run_path, run.status),
        steps=[
            StepDiagram(
                step=step.step_name,
                status=step.status,
                mermaid=step_diagram(step_paths.get(step.step_name, []), step.status),
            )
            for step in steps
        ],
    )


@router.post(
    "/{run_id}/abort",
    status_code=202,
    response_model=AbortOut,
    responses={
        200: {"model": AbortOut, "description": "The run had already ended aborted: nothing to do."},
        202: {"description": "Abort requested; the run ends `aborted` shortly (watch it live or poll)."},
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: {
            "model": Problem,
            "description": "The run already ended otherwise, or runs in another process.",
        },
        **BODY_ERRORS,
    },
)
async def abort_run(
    run_id: RunId,
    engine: EngineDep,
    principal: Operator,
    client: Client,
    response: Response,
    body: Annotated[AbortIn | None, Body()] = None,
) -> AbortOut:
    """Abort a run in flight (operator): every running step is cancelled. Idempotent: asking again while
    it winds down, or once it ended aborted, answers the same; a run that ended otherwise is a 409."""
    run = await _run(engine, run_id)
    by = principal.label(client)
    reason = f"{body.reason} (by {by})" if body and body.reason else f"aborted by {by}"
    if run.status == RunState.RUNNING:
        if await engine.abort(run.id, reason, audit=who(principal, client)):
            audit(principal, client, "abort", job=run.job_name, run_id=run.id, reason=reason)
            return AbortOut(run_id=run.id, status=RunState.RUNNING, abort_requested=True)
        run = await _run(engine, run_id)
        if run.status == RunState.RUNNING:
            raise HTTPException(
                409,
                f"run {run.id} is in flight in another engine process ({run.owner}): "
                "send the abort to the server that runs it",
            )
    if run.status == RunState.ABORTED:
        response.status_code = 200
        return AbortOut(run_id=run.id, status=RunState.ABORTED, abort_requested=False)
    raise HTTPException(409, f"run {run.id} already ended: {run.status}")


@router.post(
    "/{run_id}/retry",
    status_code=202,
    response_model=TriggerOut,
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: {"model": Problem, "description": "This run cannot be retried (the message says why)."},
        503: {"model": Problem, "description": "The engine is stopping."},
    },
)
async def retry_run(run_id: RunId, engine: EngineDep, principal: Operator, client: Client) -> TriggerOut:
    """Run a failed or aborted run again from its first step that did not succeed (operator), reusing
    the recorded outputs of the steps before it. The new run's `resumed_from` is this run."""
    run = await _run(engine, run_id)
    triggered_by = principal.triggered_by(client)
    try:
        handle = await engine.retry(run.id, triggered_by=triggered_by, audit=who(principal, client))
    except (RetryRefused, UnknownJob) as exc:
        raise HTTPException(409, str(exc)) from None
    except EngineStopping as exc:
        raise HTTPException(503, str(exc)) from None
    handle.detach()
    audit(
        principal,
        client,
        "retry",
        job=run.job_name,
        run_id=handle.run_id,
        retry_of=run.id,
        status=handle.status,
    )
    return TriggerOut(
        run_id=handle.run_id,
        job=run.job_name,
        status=handle.status,  # type: ignore[arg-type]
        triggered_by=triggered_by,
        replayed=False,
    )
