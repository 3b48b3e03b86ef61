"""The one log-line renderer: a retry, a level and an error read the same whether the line comes live
(an event), from the job store, or through REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

from nomaflow.actors.events import LogLine, RunFinished, StepFinished, StepRetrying, StepStarted
from nomaflow.engine.cli.lines import from_event, plain, render, shown
from nomaflow.states import RunState, StepState

AT = datetime(2026, 12, 3, 7, 8, 55, tzinfo=UTC)
CLOCK = AT.astimezone().strftime("%H:%M:%S")


class Base(TypedDict):
    run_id: str
    job: str
    at: datetime


BASE: Base = {"run_id": "r1", "job": "flaky", "at": AT}


def stored_retry(**extra: object) -> dict[str, object]:
    """The row engine/store/writes.py `transition_row` writes for a retry, as REST returns it."""
    fields = {
        "event": "transition",
        "machine": "step",
        "step": "load",
        "trigger": "retry",
        "source": "running",
        "dest": "retrying",
        "attempt": 1,
        "error": "TimeoutError: no answer in 30 s",
        **extra,
    }
    return {
        "seq": 6,
        "at": AT.isoformat(),
        "step": "load",
        "level": "info",
        "message": "step 'load': running -> retrying (retry)",
        "fields": fields,
    }


def test_a_retry_reads_the_same_live_and_read_back() -> None:
    live = from_event(
        StepRetrying(
            **BASE,
            seq=6,
            step="load",
            position=0,
            attempt=1,
            error="TimeoutError: no answer in 30 s",
            delay_seconds=2.5,
        )
    )
    expected = f"{CLOCK} ↻ load retrying in 2.5 s after attempt 1: TimeoutError: no answer in 30 s"
    assert plain(render(live)) == expected
    assert plain(render(stored_retry(delay_seconds=2.5))) == expected
    # A row written before retries carried their delay still says which attempt failed, and why.
    assert (
        plain(render(stored_retry()))
        == f"{CLOCK} ↻ load retrying after attempt 1: TimeoutError: no answer in 30 s"
    )


def test_log_lines_show_their_level_and_step() -> None:
    line = LogLine(**BASE, seq=3, step="load", level="warning", message="slow answer")
    assert plain(render(from_event(line))) == f"{CLOCK} warning [load] slow answer"
    row = {
        "seq": 4,
        "at": AT,
        "step": None,
        "level": "error",
        "message": "RuntimeError: boom",
        "fields": None,
    }
    segments = render(row)
    assert plain(segments) == f"{CLOCK} error   RuntimeError: boom"
    assert ("RuntimeError: boom", "red") in segments


def test_step_and_run_ends_carry_their_error() -> None:
    again = from_event(StepStarted(**BASE, seq=7, step="load", position=0, attempt=2, input={}))
    assert plain(render(again)) == f"{CLOCK} ▶ load running (attempt 2)"
    failed = from_event(
        StepFinished(
            **BASE,
            seq=8,
            step="load",
            position=0,
            status=StepState.FAILED,
            attempts=2,
            output=None,
            error="boom",
        )
    )
    assert plain(render(failed)) == f"{CLOCK} ✖ load failed: boom" and failed["level"] == "error"
    ended = from_event(RunFinished(**BASE, seq=9, status=RunState.FAILED, error="step 'load' failed"))
    assert plain(render(ended)) == f"{CLOCK} run failed: step 'load' failed"


def test_without_transitions_only_lines_and_the_runs_end_are_shown() -> None:
    started = from_event(StepStarted(**BASE, seq=2, step="load", position=0, attempt=1, input={}))
    line = from_event(LogLine(**BASE, seq=3, step="load", level="info", message="hi"))
    ended = from_event(RunFinished(**BASE, seq=4, status=RunState.SUCCEEDED, error=None))
    assert [shown(entry, transitions=False) for entry in (started, line, ended)] == [False, True, True]
    assert all(shown(entry, transitions=True) for entry in (started, line, ended))
