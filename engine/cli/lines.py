"""How one entry of a run's log reads as one line of a terminal: the only place that decides it.

Every view goes through `render`: `job logs` from the job store or through a server, `job logs
--follow` and `job run` as they happen, and `runs show`. A live event is first turned into the log
row the engine stores for it (`from_event`), so a retry, a level or an error reads the same live and
read back: `↻ load retrying in 2 s after attempt 1: TimeoutError: ...`, `warning [load] slow`.

Pure: an entry in, styled segments out; no console, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nomaflow.states import FINISHED, RunState, StepState
from nomaflow.states import is_transition as _records_transition

if TYPE_CHECKING:
    from nomaflow.actors.events import AnyEvent

# One styled piece of a line: (text, Rich style; "" for none).
Segment = tuple[str, str]

STATUS_STYLE: dict[str, str] = {
    StepState.RUNNING: "bold blue",
    StepState.RETRYING: "yellow",
    StepState.SUCCEEDED: "green",
    StepState.FAILED: "bold red",
    StepState.ABORTED: "magenta",
    StepState.SKIPPED: "dim",
    StepState.PENDING: "dim",
}
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "red"}
MARKS: dict[str, str] = {
    StepState.RUNNING: "▶",
    StepState.RETRYING: "↻",
    StepState.SUCCEEDED: "✔",
    StepState.FAILED: "✖",
    StepState.ABORTED: "■",
    StepState.SKIPPED: "·",
    StepState.PENDING: "…",
}
LEVEL_WIDTH = 7  # "warning"


def is_transition(entry: Mapping[str, Any]) -> bool:
    fields = entry.get("fields")
    return isinstance(fields, Mapping) and _records_transition(fields)


def is_run_end(entry: Mapping[str, Any]) -> bool:
    fields = entry.get("fields") or {}
    return is_transition(entry) and fields.get("machine") == "run" and fields.get("dest") in FINISHED


def shown(entry: Mapping[str, Any], transitions: bool) -> bool:
    """Whether a view that was asked not to show state changes still shows `entry`: log lines and the
    run's end always are."""
    return transitions or not is_transition(entry) or is_run_end(entry)


def render(entry: Mapping[str, Any]) -> list[Segment]:
    """`entry` (a log line in the REST API's shape: seq, at, step, level, message, fields) as segments."""
    clock = (_clock(entry.get("at")), "dim")
    if is_transition(entry):
        return [clock, *_transition(entry["fields"])]
    step = entry.get("step")
    level = str(entry.get("level") or "info")
    style = LEVEL_STYLE.get(level, "")
    return [
        clock,
        (" ", ""),
        (f"{level:<{LEVEL_WIDTH}}", style or "dim"),
        (" ", ""),
        (f"[{step}] " if step else "", "cyan"),
        (str(entry.get("message", "")), style),
    ]


def plain(segments: list[Segment]) -> str:
    return "".join(text for text, _ in segments)


def _clock(at: Any) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.astimezone().strftime("%H:%M:%S") if isinstance(at, datetime) else "--:--:--"


def _transition(fields: Mapping[str, Any]) -> list[Segment]:
    dest = str(fields.get("dest"))
    error = fields.get("error")
    tail = f": {error}" if error else ""
    status = (dest, STATUS_STYLE.get(dest, ""))
    if fields.get("machine") == "run":
        if dest == RunState.RUNNING:
            return [(" run ", ""), ("started", STATUS_STYLE[StepState.RUNNING])]
        if isinstance(error, str) and error.startswith(dest):
            # The run's error already says how it ended ("aborted by cli:bob"): said once.
            return [(" run ", ""), status, (error[len(dest) :], "")]
        return [(" run ", ""), status, (tail, "")]
    mark = f" {MARKS.get(dest, '?')} "
    name = (str(fields.get("step")), "bold")
    attempt = fields.get("attempt")
    if dest == StepState.RUNNING:
        again = f" (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else ""
        return [(mark, ""), name, (" ", ""), status, (again, "")]
    if dest == StepState.RETRYING:
        delay = fields.get("delay_seconds")
        when = f" in {delay:g} s" if isinstance(delay, int | float) else ""
        after = f" after attempt {attempt}" if attempt is not None else ""
        return [(mark, ""), name, (" ", ""), status, (f"{when}{after}{tail}", "")]
    return [(mark, ""), name, (" ", ""), status, (tail, "")]


def transition_entry(
    event: AnyEvent, *, step: str | None, dest: str, level: str = "info", **fields: Any
) -> dict[str, Any]:
    """The stored row's shape for a live state change (its message is not shown by `render`)."""
    machine = "run" if step is None else "step"
    return {
        "seq": event.seq,
        "at": event.at,
        "step": step,
        "level": level,
        "message": f"{machine if step is None else f'step {step!r}'}: -> {dest}",
        "fields": {"event": "transition", "machine": machine, "step": step, "dest": dest, **fields},
    }


def from_event(event: AnyEvent) -> dict[str, Any]:
    """A live event as the log row the engine stores for it (engine/store/writes.py `transition_row`),
    with what the event knows besides (a retry's delay)."""
    from nomaflow.actors.events import (
        LogLine,
        RunFinished,
        RunSkipped,
        RunStarted,
        StepFinished,
        StepRetrying,
        StepStarted,
    )

    if isinstance(event, LogLine):
        return {
            "seq": event.seq,
            "at": event.at,
            "step": event.step,
            "level": event.level,
            "message": event.message,
            "fields": event.fields,
        }
    if isinstance(event, RunStarted):
        return transition_entry(event, step=None, dest=RunState.RUNNING)
    if isinstance(event, RunSkipped):
        return transition_entry(event, step=None, dest=RunState.SKIPPED, error=event.reason)
    if isinstance(event, RunFinished):
        level = "error" if event.status == RunState.FAILED else "info"
        return transition_entry(event, step=None, dest=event.status, level=level, error=event.error)
    if isinstance(event, StepStarted):
        return transition_entry(event, step=event.step, dest=StepState.RUNNING, attempt=event.attempt)
    if isinstance(event, StepRetrying):
        return transition_entry(
            event,
            step=event.step,
            dest=StepState.RETRYING,
            attempt=event.attempt,
            error=event.error,
            delay_seconds=event.delay_seconds,
        )
    assert isinstance(event, StepFinished)
    level = "error" if event.status == StepState.FAILED else "info"
    return transition_entry(
        event, step=event.step, dest=event.status, level=level, attempt=event.attempts, error=event.error
    )
