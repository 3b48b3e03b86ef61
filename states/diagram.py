"""Mermaid `stateDiagram-v2` drawn from a machine table, with the path a run or step took highlighted.

Transitions taken are numbered in the order they happened (a retried step shows retry/resume twice as
"retry #2, #4"), visited states are shaded and the current state is outlined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nomaflow.states.machine import MachineTable


def render_mermaid(
    table: MachineTable[Any, Any],
    path: Sequence[tuple[str, str, str]] = (),
    current: str | None = None,
) -> str:
    """Render `table`; `path` is (trigger, source, dest) moves in order, `current` the state now."""
    taken: dict[tuple[str, str, str], list[int]] = {}
    for number, move in enumerate(path, start=1):
        taken.setdefault((move[0], move[1], move[2]), []).append(number)
    visited = {table.initial.value} if path or current else set()
    for _, source, dest in path:
        visited.update((source, dest))

    lines = ["stateDiagram-v2", f"  [*] --> {table.initial.value}"]
    for transition in table.transitions:
        for source in transition.sources:
            key = (transition.trigger.value, source.value, transition.dest.value)
            label = transition.trigger.value
            if key in taken:
                label += " " + ", ".join(f"#{n}" for n in taken[key])
            lines.append(f"  {source.value} --> {transition.dest.value}: {label}")
    order = [state.value for state in table.states]
    for state in sorted(table.final, key=lambda s: order.index(s.value)):
        lines.append(f"  {state.value} --> [*]")
    lines.append("  classDef visited fill:#dbeafe,stroke:#2563eb,color:#1e3a8a")
    lines.append("  classDef current fill:#2563eb,stroke:#1e3a8a,color:#ffffff,font-weight:bold")
    for state in table.states:
        if state.value == current:
            lines.append(f"  class {state.value} current")
        elif state.value in visited:
            lines.append(f"  class {state.value} visited")
    return "\n".join(lines) + "\n"
