"""/admin/jobs: the declared jobs with their schedule, state and last run; run, pause and resume."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Header, HTTPException, Response

from nomaflow.actors.errors import EngineStopping, UnknownJob
from nomaflow.engine.config import JobDefinition
from nomaflow.engine.config.params import ParamError, resolve_params
from nomaflow.engine.engine import Engine
from nomaflow.engine.server.api.boundary import BODY_ERRORS, BoundaryRoute
from nomaflow.engine.server.api.idempotency import MAX_KEY_LENGTH, fingerprint
from nomaflow.engine.server.api.schemas import (
    JobOut,
    JobStateOut,
    PauseIn,
    Problem,
    RunSummary,
    StepInfo,
    StoredText,
    TriggerIn,
    TriggerOut,
)
from nomaflow.engine.server.auth.audit import audit, who
from nomaflow.engine.server.deps import AUTH_ERRORS, Admin, Client, EngineDep, Host, Operator, Viewer
from nomaflow.engine.store import RunRow
from nomaflow.states import RunState

router = APIRouter(prefix="/admin/jobs", tags=["jobs"], route_class=BoundaryRoute)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such job."}}
# A claim whose run never appeared in this long was left by a request that died: it may be taken over.
STALE_CLAIM = timedelta(seconds=60)
REPLAY_WAIT_SECONDS = 10.0


def _job(engine: Engine, name: str) -> JobDefinition:
    try:
        return engine.job(name)
    except UnknownJob as exc:
        raise HTTPException(404, str(exc)) from None


def _job_out(
    engine: Engine, job: JobDefinition, fires: dict[str, datetime], last: RunRow | None, running: str | None
) -> JobOut:
    state = engine.job_state(job.name)
    return JobOut(
        name=job.name,
        app=job.app,
        description=job.description,
        schedule=job.schedule.expression if job.schedule else None,
        timezone=job.timezone,
        enabled=job.enabled,
        paused=engine.paused(job.name),
        state=JobStateOut.of(state) if state else None,
        next_fire=fires.get(job.name),
        running=running,
        last_run=RunSummary.of(last) if last else None,
        params=dict(job.params),
        steps=[
            StepInfo(name=step.name, type=step.type, description=step.description, dry_run=step.dry_run)
            for step in job.steps
        ],
    )


async def _jobs_out(engine: Engine, names: list[str]) -> list[JobOut]:
    last = await engine.store.last_runs_by_job(jobs=engine.jobs)
    started = await engine.store.last_runs_by_job(include_skipped=False, jobs=engine.jobs)
    local = {view.job: view.run_id for view in engine.tracker.runs.values()}
    fires = engine.next_fires()
    out = []
    for name in names:
        job = engine.job(name)
        latest = started.get(name)
        running = local.get(name) or (
            latest.id if latest is not None and latest.status == RunState.RUNNING else None
        )
        out.append(_job_out(engine, job, fires, last.get(name), running))
    return out


@router.get("", response_model=list[JobOut], responses=AUTH_ERRORS)
async def list_jobs(engine: EngineDep, _: Viewer) -> list[JobOut]:
    """Every declared job: schedule, next fire, paused (and by whom), the run in flight, the last run."""
    return await _jobs_out(engine, sorted(engine.jobs))


@router.get("/{name}", response_model=JobOut, responses={**AUTH_ERRORS, **NOT_FOUND})
async def get_job(name: str, engine: EngineDep, _: Viewer) -> JobOut:
    _job(engine, name)
    return (await _jobs_out(engine, [name]))[0]


def _check_params(job: JobDefinition, params: dict[str, Any]) -> None:
    """Each override checked on its own, so the 422 names the param at fault."""
    problems = []
    for key, value in params.items():
        try:
            resolve_params(job.name, job.params, {key: value})
        except ParamError as exc:
            problems.append({"loc": ["body", "params", key], "msg": str(exc), "type": "param_error"})
    if problems:
        raise HTTPException(422, problems)


@router.post(
    "/{name}/run",
    status_code=202,
    response_model=TriggerOut,
    responses={
        200: {"model": TriggerOut, "description": "Replayed: this Idempotency-Key already made this run."},
        202: {
            "description": "Dispatched: the run is `running`, or `skipped` if the job was already running."
        },
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: {"model": Problem, "description": "A request with this Idempotency-Key is still in progress."},
        413: {"model": Problem, "description": "The body is too large."},
        **BODY_ERRORS,
        422: {"description": "Bad body, unknown or mistyped param, or a reused Idempotency-Key."},
        503: {
            "model": Problem,
            "description": "The engine is stopping, or the job store is unavailable (then with Retry-After; "
            "nothing was started).",
        },
    },
)
async def run_job(
    name: str,
    host: Host,
    principal: Operator,
    client: Client,
    response: Response,
    body: Annotated[TriggerIn | None, Body()] = None,
    idempotency_key: Annotated[
        StoredText | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_KEY_LENGTH,
            description="Repeat a request safely: the same key (from the same token subject) returns "
            "the same run for [server] idempotency_hours, instead of starting another.",
        ),
    ] = None,
) -> TriggerOut:
    """Trigger a run now (operator). Answers once the run is admitted, with its id and status."""
    engine = host.engine
    job = _job(engine, name)
    request = body or TriggerIn()
    _check_params(job, request.params)
    triggered_by = principal.triggered_by(client)
    run_id = str(uuid.uuid4())
    keys = host.idempotency
    scope = principal.subject
    if idempotency_key is not None:
        print_ = fingerprint(name, request.params, request.dry_run)
        claim = await keys.claim(scope, idempotency_key, name, print_, run_id)
        if not claim.fresh:
            if claim.fingerprint != print_:
                raise HTTPException(
                    422,
                    [
                        {
                            "loc": ["header", "Idempotency-Key"],
                            "msg": "this Idempotency-Key was already used for a different request",
                            "type": "idempotency_key_reused",
                        }
                    ],
                )
            run = await engine.store.get_run(claim.run_id)
            if run is None:
                # Whether the claimer here settled while we waited, or just before we looked (its
                # pending mark is gone then): read again either way before calling it unsettled.
                await keys.wait_settled(scope, idempotency_key, REPLAY_WAIT_SECONDS)
                run = await engine.store.get_run(claim.run_id)
            if run is None and engine.clock.now() - claim.created_at > STALE_CLAIM:
                await keys.release(scope, idempotency_key, claim.run_id)
                claim = await keys.claim(scope, idempotency_key, name, print_, run_id)
            elif run is None:
                raise HTTPException(
                    409, "a request with this Idempotency-Key is still being processed; retry"
                )
            if run is not None:
                audit(principal, client, "run replayed", job=name, run_id=run.id, key=idempotency_key)
                response.status_code = 200
                return TriggerOut(
                    run_id=run.id,
                    job=run.job_name,
                    status=run.status,  # type: ignore[arg-type]
                    triggered_by=run.triggered_by,
                    replayed=True,
                )
        run_id = claim.run_id
    try:
        handle = await engine.trigger(
            name,
            request.params,
            dry_run=request.dry_run,
            triggered_by=triggered_by,
            run_id=run_id,
            audit={**who(principal, client), "idempotency_key": idempotency_key},
        )
    except BaseException as exc:
        if idempotency_key is not None:
            with anyio.CancelScope(shield=True):
                await keys.release(scope, idempotency_key, run_id)
        if isinstance(exc, EngineStopping):
            raise HTTPException(503, str(exc)) from None
        if isinstance(exc, ParamError):
            raise HTTPException(
                422, [{"loc": ["body", "params"], "msg": str(exc), "type": "param_error"}]
            ) from None
        raise
    finally:
        if idempotency_key is not None:
            keys.settled(scope, idempotency_key)
    handle.detach()
    audit(
        principal,
        client,
        "run",
        job=name,
        run_id=handle.run_id,
        status=handle.status,
        dry_run=request.dry_run,
    )
    return TriggerOut(
        run_id=handle.run_id,
        job=name,
        status=handle.status,  # type: ignore[arg-type]
        triggered_by=triggered_by,
        replayed=False,
    )


async def _set_paused(
    host: Host, name: str, principal: Admin, client: Client, body: PauseIn | None, paused: bool
) -> JobOut:
    engine = host.engine
    _job(engine, name)
    reason = body.reason if body else None
    by = principal.label(client)
    if paused:
        await engine.pause(name, by, reason)
    else:
        await engine.resume(name, by, reason)
    audit(principal, client, "pause" if paused else "resume", job=name, reason=reason)
    return (await _jobs_out(engine, [name]))[0]


@router.post("/{name}/pause", response_model=JobOut, responses={**AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS})
async def pause_job(
    name: str,
    host: Host,
    principal: Admin,
    client: Client,
    body: Annotated[PauseIn | None, Body()] = None,
) -> JobOut:
    """Stop cron firing the job (admin), until resumed; kept across restarts. Manual runs still work.
    Pausing a paused job records the new request and changes nothing else."""
    return await _set_paused(host, name, principal, client, body, True)


@router.post("/{name}/resume", response_model=JobOut, responses={**AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS})
async def resume_job(
    name: str,
    host: Host,
    principal: Admin,
    client: Client,
    body: Annotated[PauseIn | None, Body()] = None,
) -> JobOut:
    """Let cron fire the job again (admin); its next fire is computed from now (missed fires are not run)."""
    return await _set_paused(host, name, principal, client, body, False)
