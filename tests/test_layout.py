"""The package's shape: one import namespace, `nomaflow`, and imports that go one way only,
engine -> actors -> states (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("states", "actors", "engine")
# What each layer may import of ours (itself included).
ALLOWED = {
    "states": {"states"},
    "actors": {"actors", "states"},
    "engine": {"engine", "actors", "states"},
}
OUR_PYTHON = [
    path
    for top in (*FOLDERS, "nomaflow", "tests", "benchmarks", "examples", "scripts")
    for path in sorted((ROOT / top).rglob("*.py"))
    if not (ROOT / top).is_symlink() and "node_modules" not in path.parts
]


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_the_checkout_maps_each_folder_under_the_nomaflow_package() -> None:
    for folder in FOLDERS:
        link = ROOT / "nomaflow" / folder
        assert link.is_symlink() and link.resolve() == ROOT / folder


def test_nothing_imports_the_bare_folder_names() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{line}: import {module}"
        for path in OUR_PYTHON
        for line, module in _imported(path)
        if module.split(".")[0] in FOLDERS
    ]
    assert OUR_PYTHON and not bare, "import them as nomaflow.<folder>:\n" + "\n".join(bare)


@pytest.mark.parametrize("layer", FOLDERS)
def test_imports_go_one_way_engine_actors_states(layer: str) -> None:
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, module in _imported(path):
            parts = module.split(".")
            if parts[0] == "nomaflow" and len(parts) > 1 and parts[1] not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: import {module}")
    assert not wrong, f"{layer}/ may import only {sorted(ALLOWED[layer])} of ours:\n" + "\n".join(wrong)


def _mapped() -> set[str]:
    """The folders and modules of engine/ that docs/architecture.md's map names."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Where is what", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `engine/([\w.]+)/?` \|", section, re.M))


def test_the_architecture_map_names_every_folder_and_module_of_engine() -> None:
    engine = ROOT / "engine"
    tree = {p.name for p in engine.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    tree |= {p.name for p in engine.glob("*.py") if p.name != "__init__.py"}
    assert _mapped() == tree


def test_engine_keeps_at_most_six_top_level_modules() -> None:
    modules = [p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 6, modules
