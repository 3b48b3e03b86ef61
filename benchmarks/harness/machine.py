"""Notes on the machine a benchmark ran on, printed with every report: on a small machine shared with
other work, a figure means little without the load it was measured under."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def commit() -> str:
    """The work tree's commit, `-dirty` when it has changes: which code the figures belong to."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def notes(*extra: str) -> str:
    """One line: date, commit, Python, CPUs and the load average now (1, 5 and 15 minutes), then
    `extra` (server and library versions)."""
    parts = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"nomaflow {commit()}",
        f"Python {platform.python_version()}",
        f"{os.cpu_count()} CPUs, load average {load_average()}",
        *extra,
    ]
    return ", ".join(parts)
