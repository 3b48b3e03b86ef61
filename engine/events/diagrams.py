"""State diagrams of a recorded run: the transitions logged in ly2_job_logs, replayed onto the tables.

The store logs every transition as a structured log row ({"event": "transition", "machine", "step",
"trigger", "source", "dest"}); replaying them gives the path each machine took, which
`nomaflow.states.render_mermaid` highlights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nomaflow.states import RUN_TABLE, STEP_TABLE, RunState, RunTrigger, is_transition, render_mermaid

Path = list[tuple[str, str, str]]


def transition_paths(logs: Iterable[Mapping[str, Any] | None]) -> tuple[Path, dict[str, Path]]:
    """(the run's path, each step's path by name) from the `fields` of a run's log rows, in seq order."""
    run: Path = []
    steps: dict[str, Path] = {}
    for fields in logs:
        if fields is None or not is_transition(fields):
            continue
        move = (str(fields["trigger"]), str(fields["source"]), str(fields["dest"]))
        if fields.get("machine") == "run":
            run.append(move)
        else:
            steps.setdefault(str(fields.get("step")), []).append(move)
    return run, steps


def run_diagram(path: Path, current: str) -> str:
    if not path or path[0][1] != RunState.PENDING:
        # Admission is recorded as one row that creates the run already running.
        path = (
            [(RunTrigger.ADMIT, RunState.PENDING, RunState.RUNNING), *path]
            if current != RunState.SKIPPED
            else path
        )
    return render_mermaid(RUN_TABLE, path, current)


def step_diagram(path: Path, current: str) -> str:
    return render_mermaid(STEP_TABLE, path, current)
