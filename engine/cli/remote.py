"""The CLI against a running server (`--server`/NOMAFLOW_SERVER with `--token`/NOMAFLOW_TOKEN): the same
commands, through the REST API and Socket.IO instead of an engine in this process.

Runs started from here are recorded as `cli:<token subject>` (the `X-Nomaflow-Client: cli` header;
the name always comes from the token). Exit codes are the in-process ones: 0 succeeded, 1 failed,
2 bad usage, 3 skipped, 4 aborted.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import httpx
import msgspec
from rich.table import Table
from rich.text import Text

from nomaflow.actors.events import AnyEvent, LogLine, RunFinished, RunSkipped
from nomaflow.engine.cli.context import EXIT_ABORTED, EXIT_FAILED, EXIT_SKIPPED, EXIT_USAGE, err, fail, out
from nomaflow.engine.cli.show import LEVEL_STYLE, duration, event_line, status, when
from nomaflow.engine.client import CaughtUpLine, FollowError, NomaflowClient, NomaflowError, RunFollower
from nomaflow.engine.config.params import ParamError, parse_param_text, split_assignment
from nomaflow.states import is_transition

EXIT_CODES = {"succeeded": 0, "skipped": EXIT_SKIPPED, "aborted": EXIT_ABORTED}


def exit_code(final: str | None) -> int:
    return EXIT_CODES.get(final or "", EXIT_FAILED)


@dataclass(frozen=True)
class Remote:
    server: str
    token: str | None

    def need_token(self) -> str:
        if not self.token:
            fail(
                f"talking to {self.server} needs a token: pass --token or set NOMAFLOW_TOKEN "
                "(`nomaflow token create` or POST /admin/login makes one)",
                EXIT_USAGE,
            )
        return self.token

    @contextmanager
    def client(self) -> Iterator[NomaflowClient]:
        """A REST client whose errors end the command with a message, never a traceback."""
        with NomaflowClient(self.server, self.need_token(), client="cli") as client:
            try:
                yield client
            except NomaflowError as exc:
                fail(
                    f"{self.server} answered {exc}",
                    EXIT_USAGE if exc.status_code in (404, 422) else EXIT_FAILED,
                )
            except httpx.HTTPError as exc:
                fail(f"cannot reach {self.server}: {exc}")


def from_options(server: str | None, token: str | None) -> Remote | None:
    server = server or os.environ.get("NOMAFLOW_SERVER") or None
    if not server:
        return None
    return Remote(server=server, token=token or os.environ.get("NOMAFLOW_TOKEN") or None)


def _datetime(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# --- jobs ---


def jobs_list(remote: Remote) -> None:
    with remote.client() as client:
        jobs = client.jobs()
    table = Table(box=None, header_style="bold")
    for column in ("job", "app", "schedule", "timezone", "next fire", "enabled", "paused", "last run"):
        table.add_column(column)
    for job in jobs:
        state = job.get("state") or {}
        paused = f"[yellow]yes[/] ({state.get('changed_by')})" if job["paused"] else "no"
        last = job.get("last_run")
        table.add_row(
            job["name"],
            job["app"],
            job["schedule"] or "on demand",
            job["timezone"],
            when(_datetime(job.get("next_fire"))),
            "yes" if job["enabled"] else "[dim]no[/]",
            paused,
            f"{last['status']} {when(_datetime(last['started_at']))}" if last else "-",
        )
    out.print(table)


def job_pause(remote: Remote, name: str, reason: str | None, paused: bool) -> None:
    with remote.client() as client:
        job = client.pause(name, reason) if paused else client.resume(name, reason)
    state = job.get("state") or {}
    word = "paused" if job["paused"] else "resumed"
    out.print(f"job [bold]{name}[/] {word} by {state.get('changed_by')}")


# --- job run / logs ---


def job_run(remote: Remote, name: str, params: list[str], dry_run: bool, wait: bool) -> int:
    with remote.client() as client:
        declared = client.job(name)["params"]
        overrides: dict[str, Any] = {}
        try:
            for assignment in params:
                key, text = split_assignment(assignment)
                overrides[key] = parse_param_text(name, declared, key, text)
        except ParamError as exc:
            fail(str(exc), EXIT_USAGE)
        run = client.trigger(name, overrides, dry_run=dry_run)
    out.print(f"run [bold]{run['run_id']}[/] of {name}: ", status(run["status"]), f" ({run['triggered_by']})")
    if run["status"] == "skipped":
        return EXIT_SKIPPED
    if not wait:
        return 0
    return follow(remote, run["run_id"], transitions=True, abort_on_interrupt=True)


def job_logs(remote: Remote, run_id: str, transitions: bool, follow_live: bool) -> int:
    if follow_live:
        return follow(remote, run_id, transitions=transitions, abort_on_interrupt=False)
    with remote.client() as client:
        for line in _all_lines(client, run_id):
            _print_line(msgspec.convert(line, CaughtUpLine), transitions)
    return 0


def _all_lines(client: NomaflowClient, run_id: str) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = client.logs(run_id, after_seq=after)
        yield from page["lines"]
        if not page["lines"]:
            return
        after = page["last_seq"]


_MARKS = {"running": "▶", "retrying": "↻", "succeeded": "✔", "failed": "✖", "aborted": "■", "skipped": "·"}


def _print_line(line: CaughtUpLine, transitions: bool) -> None:
    """A line read back through REST, shown as its live event would have been."""
    clock = (line.at.astimezone().strftime("%H:%M:%S"), "dim")
    fields = line.fields or {}
    if is_transition(fields):
        if not transitions and not (fields.get("machine") == "run" and fields.get("dest") != "running"):
            return
        dest = str(fields.get("dest"))
        if fields.get("machine") == "run":
            out.print(Text.assemble(clock, " run ", "started" if dest == "running" else status(dest)))
            return
        out.print(
            Text.assemble(
                clock, f" {_MARKS.get(dest, '?')} ", (str(fields.get("step")), "bold"), " ", status(dest)
            )
        )
        return
    where = f"[{line.step}] " if line.step else ""
    out.print(Text.assemble(clock, "   ", (where, "cyan"), (line.message, LEVEL_STYLE.get(line.level, ""))))


def _print_event(event: AnyEvent, transitions: bool) -> None:
    if not transitions and not isinstance(event, LogLine | RunFinished | RunSkipped):
        return
    line = event_line(event)
    if line is not None:
        out.print(line)


def follow(remote: Remote, run_id: str, *, transitions: bool, abort_on_interrupt: bool) -> int:
    """Print the run's log and state changes as they happen; return the exit code of its final status."""
    token = remote.need_token()
    follower = RunFollower(remote.server, token, run_id, client="cli")

    async def main() -> str | None:
        problem: Exception | None = None
        async with anyio.create_task_group() as group:
            if abort_on_interrupt:
                group.start_soon(_abort_on_interrupt, remote, token, run_id)
            # Caught here, not around the task group, which would wrap it in an ExceptionGroup.
            try:
                async for item in follower:
                    if isinstance(item, CaughtUpLine):
                        _print_line(item, transitions)
                    else:
                        _print_event(item, transitions)
            except _FOLLOW_ERRORS as exc:
                problem = exc
            group.cancel_scope.cancel()
        if problem is not None:
            raise problem
        return follower.status

    try:
        final = anyio.run(main)
    except NomaflowError as exc:
        fail(f"{remote.server} answered {exc}", EXIT_USAGE if exc.status_code in (404, 422) else EXIT_FAILED)
    except FollowError as exc:
        fail(f"cannot follow run {run_id}: {exc}")
    except (httpx.HTTPError, OSError) as exc:
        fail(f"cannot reach {remote.server}: {exc}")
    if follower.error and final != "succeeded":
        err.print(f"[red]{final}[/]: {follower.error}", markup=True)
    return exit_code(final)


_FOLLOW_ERRORS = (NomaflowError, FollowError, httpx.HTTPError, OSError)


async def _abort_on_interrupt(remote: Remote, token: str, run_id: str) -> None:
    def abort(reason: str) -> None:
        with NomaflowClient(remote.server, token, client="cli") as client:
            client.abort(run_id, reason)

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            name = signal.Signals(received).name
            err.print(f"[yellow]{name}: asking the server to abort run {run_id}[/]")
            try:
                await anyio.to_thread.run_sync(abort, f"interrupted from the CLI ({name})")
            except (NomaflowError, httpx.HTTPError) as exc:
                # The follow goes on: it ends with the run, or fails on its own if the server is gone.
                err.print(Text.assemble(("error:", "bold red"), f" could not ask for the abort: {exc}"))


def job_abort(remote: Remote, run_id: str, reason: str | None) -> None:
    with remote.client() as client:
        answer = client.abort(run_id, reason)
    word = "abort requested" if answer["abort_requested"] else "already aborted"
    out.print(f"run [bold]{run_id}[/]: {word}")


def job_retry(remote: Remote, run_id: str, wait: bool) -> int:
    with remote.client() as client:
        run = client.retry(run_id)
    out.print(f"run [bold]{run['run_id']}[/] retries {run_id}: ", status(run["status"]))
    if run["status"] == "skipped":
        return EXIT_SKIPPED
    return follow(remote, run["run_id"], transitions=True, abort_on_interrupt=True) if wait else 0


# --- runs ---


def runs_list(remote: Remote, job: str | None, status_filter: str | None, limit: int) -> None:
    with remote.client() as client:
        page = client.runs(job=job, status=status_filter, limit=limit)
    if not page["runs"]:
        out.print("no runs yet" if job is None and status_filter is None else "no matching runs")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("run id", no_wrap=True, min_width=36)
    for column in ("job", "status", "triggered by", "started", "duration"):
        table.add_column(column)
    for run in page["runs"]:
        started, finished = _datetime(run["started_at"]), _datetime(run["finished_at"])
        table.add_row(
            run["id"],
            run["job"],
            status(run["status"]),
            run["triggered_by"],
            when(started),
            duration(started, finished),
        )
    out.print(table)


def runs_show(remote: Remote, run_id: str, diagram: bool) -> None:
    with remote.client() as client:
        run = client.run(run_id)
        diagrams = client.diagram(run_id) if diagram else None
    started, finished = _datetime(run["started_at"]), _datetime(run["finished_at"])
    out.print(f"[bold]run {run['id']}[/] of [bold]{run['job']}[/] ({run['app']})")
    out.print("  status        ", status(run["status"]))
    out.print(f"  triggered by   {run['triggered_by']}")
    out.print(
        f"  started        {when(started)}   finished {when(finished)}   took {duration(started, finished)}"
    )
    out.print(f"  params         {run['params']}", markup=False)
    if run["error"]:
        out.print(f"  error          {run['error']}", style="red", markup=False)
    table = Table(box=None, header_style="bold")
    for column in ("#", "step", "type", "status", "attempts", "took", "output / error"):
        table.add_column(column)
    for step in run["steps"]:
        failed = step["status"] in ("failed", "aborted")
        detail = (step["error"] or "") if failed else ("" if step["output"] is None else str(step["output"]))
        table.add_row(
            str(step["position"] + 1),
            step["name"],
            step["type"],
            status(step["status"]),
            str(step["attempts"]),
            duration(_datetime(step["started_at"]), _datetime(step["finished_at"])),
            detail[:120],
        )
    out.print(table)
    if diagrams is not None:
        out.print("\n[bold]run[/]")
        out.print(diagrams["run"], markup=False)
        for step in diagrams["steps"]:
            out.print(f"[bold]step {step['step']}[/]")
            out.print(step["mermaid"], markup=False)
