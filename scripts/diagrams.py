"""Regenerate the mermaid blocks of docs/state-diagrams.md from the machine tables in states/.

Usage: .venv/bin/python scripts/diagrams.py   (tests/states/test_docs_diagrams.py fails when they are stale)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nomaflow.states import RUN_TABLE, STEP_TABLE, render_mermaid

DOC = Path(__file__).resolve().parents[1] / "docs" / "state-diagrams.md"
BLOCK = re.compile(r"(<!-- diagram:(?P<name>\w+) -->\n```mermaid\n)(?P<body>.*?)(```)", re.S)
TABLES = {"run": RUN_TABLE, "step": STEP_TABLE}


def regenerated(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render_mermaid(TABLES[m.group("name")]) + m.group(4), text)


if __name__ == "__main__":
    DOC.write_text(regenerated(DOC.read_text()))
    print(f"rewrote the diagrams in {DOC}")
