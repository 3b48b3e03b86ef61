"""docs/state-diagrams.md shows the machines as the tables define them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "diagrams.py"


def test_documented_diagrams_match_the_tables() -> None:
    spec = importlib.util.spec_from_file_location("diagrams_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    current = script.DOC.read_text()
    assert current.count("```mermaid\nstateDiagram-v2") == 2
    assert script.regenerated(current) == current, "docs/state-diagrams.md is stale: run scripts/diagrams.py"
