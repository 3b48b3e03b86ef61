"""How runs, steps and log lines look in a terminal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from nomaflow.actors.events import (
    AnyEvent,
    LogLine,
    RunFinished,
    RunSkipped,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)

STATUS_STYLE = {
    "running": "bold blue",
    "retrying": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "aborted": "magenta",
    "skipped": "dim",
    "pending": "dim",
}
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "red"}


def status(text: str) -> Text:
    return Text(text, style=STATUS_STYLE.get(text, ""))


def when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = (end - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def event_line(event: AnyEvent) -> Text | None:
    """One terminal line for a live event (None for those not worth a line)."""
    clock = event.at.astimezone().strftime("%H:%M:%S")
    if isinstance(event, RunStarted):
        return Text.assemble(
            (clock, "dim"),
            " run ",
            (event.run_id, "bold"),
            f" of {event.job} started (",
            event.triggered_by,
            ")",
        )
    if isinstance(event, StepStarted):
        retry = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return Text.assemble((clock, "dim"), " ▶ ", (event.step, "bold"), " ", status("running"), retry)
    if isinstance(event, StepRetrying):
        return Text.assemble(
            (clock, "dim"),
            " ↻ ",
            (event.step, "bold"),
            " ",
            status("retrying"),
            f" in {event.delay_seconds:g} s after attempt {event.attempt}: {event.error}",
        )
    if isinstance(event, StepFinished):
        mark = {"succeeded": "✔", "failed": "✖", "aborted": "■", "skipped": "·"}.get(event.status, "?")
        tail = f": {event.error}" if event.error else ""
        return Text.assemble(
            (clock, "dim"), f" {mark} ", (event.step, "bold"), " ", status(event.status), tail
        )
    if isinstance(event, LogLine):
        where = f"[{event.step}] " if event.step else ""
        return Text.assemble(
            (clock, "dim"), "   ", (where, "cyan"), (event.message, LEVEL_STYLE.get(event.level, ""))
        )
    if isinstance(event, RunFinished):
        tail = f": {event.error}" if event.error else ""
        return Text.assemble((clock, "dim"), " run ", status(event.status), tail)
    if isinstance(event, RunSkipped):
        return Text.assemble((clock, "dim"), " run ", status("skipped"), f": {event.reason}")
    return None


def runs_table(rows: list[Any]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("run id", no_wrap=True, min_width=36)  # whole, so it can be copied
    for column in ("job", "status", "triggered by", "started", "duration"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.id,
            row.job_name,
            status(row.status),
            row.triggered_by,
            when(row.started_at),
            duration(row.started_at, row.finished_at),
        )
    return table
