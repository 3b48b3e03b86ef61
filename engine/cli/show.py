"""How jobs, runs and steps look in a terminal. Every view is drawn from the REST API's shapes
(engine/cli/shapes.py), so a table reads the same in-process and through a server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nomaflow.engine.cli.lines import STATUS_STYLE, Segment, is_transition, render
from nomaflow.engine.cli.output import print_fields, print_segments, print_table
from nomaflow.engine.cli.shapes import instant
from nomaflow.states import StepState

Shape = Mapping[str, Any]


def status(text: str) -> Segment:
    return (text, STATUS_STYLE.get(text, ""))


def when(moment: Any) -> str:
    found = instant(moment)
    return found.astimezone().strftime("%Y-%m-%d %H:%M:%S") if found else "-"


def duration(start: Any, end: Any) -> str:
    begun, ended = instant(start), instant(end)
    if begun is None or ended is None:
        return "-"
    seconds = (ended - begun).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def jobs_table(jobs: Sequence[Shape]) -> None:
    rows = []
    for job in jobs:
        state = job.get("state") or {}
        last = job.get("last_run")
        rows.append(
            [
                job["name"],
                job["app"],
                job["schedule"] or "on demand",
                job["timezone"],
                "-" if job["paused"] else when(job.get("next_fire")),
                "yes" if job["enabled"] else ("no", "dim"),
                (f"yes ({state.get('changed_by')})", "yellow") if job["paused"] else "no",
                f"{last['status']} {when(last['started_at'])}" if last else "-",
            ]
        )
    headers = ("job", "app", "schedule", "timezone", "next fire", "enabled", "paused", "last run")
    print_table(headers, rows)


def runs_table(runs: Sequence[Shape]) -> None:
    rows = [
        [
            run["id"],
            run["job"],
            status(run["status"]),
            run["triggered_by"],
            when(run["started_at"]),
            duration(run["started_at"], run["finished_at"]),
        ]
        for run in runs
    ]
    print_table(("run id", "job", "status", "triggered by", "started", "duration"), rows)


def run_view(run: Shape, notable: Sequence[Shape] = ()) -> None:
    """A run, its steps, and the lines of its log worth a look (warnings, errors, retries)."""
    print_segments(
        [(f"run {run['id']}", "bold"), (" of ", ""), (run["job"], "bold"), (f" ({run['app']})", "")]
    )
    scheduled = f" (scheduled for {when(run['scheduled_for'])})" if run.get("scheduled_for") else ""
    started, finished = run["started_at"], run["finished_at"]
    fields: list[tuple[str, Sequence[Segment] | str]] = [
        ("status", [status(run["status"])]),
        ("triggered by", f"{run['triggered_by']}{scheduled}"),
        ("started", f"{when(started)}   finished {when(finished)}   took {duration(started, finished)}"),
        ("params", [(str(run["params"]), ""), ("   dry run" if run.get("dry_run") else "", "yellow")]),
    ]
    if run.get("resumed_from"):
        fields.append(("retries run", run["resumed_from"]))
    if run.get("error"):
        fields.append(("error", [(run["error"], "red")]))
    print_fields(fields)
    rows = []
    for step in run["steps"]:
        failed = step["status"] in (StepState.FAILED, StepState.ABORTED)
        detail = (step["error"] or "") if failed else ("" if step["output"] is None else str(step["output"]))
        if step.get("dry_run"):
            detail = f"(dry run) {detail}".rstrip()
        rows.append(
            [
                str(step["position"] + 1),
                step["name"],
                step["type"],
                status(step["status"]),
                str(step["attempts"]),
                duration(step["started_at"], step["finished_at"]),
                (detail, "red") if failed else detail,
            ]
        )
    print_table(("#", "step", "type", "status", "attempts", "took", "output / error"), rows)
    if notable:
        print_segments([("log (warnings, errors, retries)", "bold")])
        for entry in notable:
            print_segments(render(entry))


def notable(entry: Shape) -> bool:
    """A log line `runs show` repeats: a warning or worse, or a retry."""
    if is_transition(entry):
        return (entry.get("fields") or {}).get("dest") == StepState.RETRYING
    return entry.get("level") in ("warning", "error")
