"""How a move of a machine is written down in a run's log: a row whose `fields` say
`{"event": "transition", "machine", "step", "trigger", "source", "dest", ...}` (the store writes them,
the diagrams, the CLI and the live views read them back)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TRANSITION = "transition"  # the `event` of a transition row's fields


def is_transition(fields: Mapping[str, Any] | None) -> bool:
    """Whether a log row with these `fields` records a transition (not a line a step logged)."""
    return fields is not None and fields.get("event") == TRANSITION
