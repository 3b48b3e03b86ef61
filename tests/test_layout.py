"""The package's shape: one import namespace, `nomaflow`, imports that go one way only,
engine -> actors -> states, and no module that imports itself through others (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from collections import deque
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("states", "actors", "engine")
# What each layer may import of ours (itself included).
# `_exports` (nomaflow/_exports.py, the lazy public names of a package's __init__) belongs to no layer:
# it imports nothing of ours, and each layer's __init__ uses it.
ALLOWED = {
    "states": {"states", "_exports"},
    "actors": {"actors", "states", "_exports"},
    "engine": {"engine", "actors", "states", "_exports"},
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


# Cycles tolerated for now, each as the exact set of modules that import one another: none today. The
# test fails on any other cycle, and on an entry here that is no longer a cycle.
KNOWN_CYCLES: list[frozenset[str]] = []


def _package_modules() -> dict[str, Path]:
    """Every module of the three folders, by its dotted name (a package by its __init__).

    The top package's own __init__ is left out: it imports the public names lazily, on first use (its
    TYPE_CHECKING block only tells type checkers what they are), and defines __version__ before
    anything else, so a module may take `nomaflow.__version__` without needing what the names are."""
    modules: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = ["nomaflow", *path.relative_to(ROOT).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Each module's imports of the package's modules, with the line of the first one.

    Every import statement counts, wherever it is: inside a function (a deferred import is how a cycle
    is usually hidden, not removed) and under `if TYPE_CHECKING:` (two modules that need each other's
    names still need each other; only the guard keeps that from failing at import time). `from p import
    n` imports the module p.n when there is one, else p itself. The parent packages Python runs first are
    not counted: that is the interpreter's order, not a dependency the module chose."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [known(f"{base}.{alias.name}") for alias in node.names]
            else:
                continue
            for target in targets:
                if target is not None and target != module:
                    edges[target] = min(node.lineno, edges.get(target, node.lineno))
        graph[module] = edges
    return graph


def _tangles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of two or more modules that import one another (strongly connected components,
    Tarjan's algorithm, iterative so a deep chain of imports cannot overflow the stack)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    tangles: list[list[str]] = []
    for root in graph:
        if root in order:
            continue
        work = [(root, iter(graph[root]))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in order:
                    order[target] = low[target] = len(order)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                elif target in on_stack:
                    low[module] = min(low[module], order[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == order[module]:
                tangle: list[str] = []
                while not tangle or tangle[-1] != module:
                    tangle.append(stack.pop())
                    on_stack.discard(tangle[-1])
                if len(tangle) > 1:
                    tangles.append(sorted(tangle))
    return tangles


def _shortest_cycle(graph: dict[str, dict[str, int]], tangle: list[str]) -> list[str]:
    """One shortest way round the tangle, from its first module back to it (breadth first)."""
    start, members = tangle[0], set(tangle)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in graph[module]:
            if target == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target in members and target not in came_from:
                came_from[target] = module
                queue.append(target)
    raise AssertionError(f"{tangle} is not a cycle")


def _describe(graph: dict[str, dict[str, int]], modules: dict[str, Path], tangle: list[str]) -> str:
    cycle = _shortest_cycle(graph, tangle)
    steps = [
        f"    {modules[here].relative_to(ROOT)}:{graph[here][there]} imports {there}"
        for here, there in pairwise(cycle)
    ]
    return f"{len(tangle)} modules import one another ({', '.join(tangle)}); one way round:\n" + "\n".join(
        steps
    )


def test_no_module_imports_itself_through_others() -> None:
    modules = _package_modules()
    graph = _import_graph(modules)
    tangles = _tangles(graph)
    unexpected = [tangle for tangle in tangles if frozenset(tangle) not in KNOWN_CYCLES]
    assert not unexpected, "import cycles:\n" + "\n".join(_describe(graph, modules, t) for t in unexpected)
    gone = [sorted(known) for known in KNOWN_CYCLES if known not in {frozenset(t) for t in tangles}]
    assert not gone, f"no longer cycles (remove them from KNOWN_CYCLES): {gone}"


def test_the_cycle_check_sees_deferred_and_type_checking_imports(tmp_path: Path) -> None:
    # A package of three modules that import one another only inside a function and under TYPE_CHECKING,
    # and a fourth that a relative import reaches: the check must find the cycle and name its lines.
    files = {
        "a.py": "def later():\n    from nomaflow.engine.b import thing\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n",
        "c.py": "import nomaflow.engine.a\nfrom .d import helper\n",
        "d.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    modules = {f"nomaflow.engine.{name[:-3]}": tmp_path / name for name in files}
    graph = _import_graph(modules)
    assert graph == {
        "nomaflow.engine.a": {"nomaflow.engine.b": 2},
        "nomaflow.engine.b": {"nomaflow.engine.c": 3},
        "nomaflow.engine.c": {"nomaflow.engine.a": 1, "nomaflow.engine.d": 2},
        "nomaflow.engine.d": {},
    }
    [tangle] = _tangles(graph)
    assert tangle == ["nomaflow.engine.a", "nomaflow.engine.b", "nomaflow.engine.c"]
    assert _shortest_cycle(graph, tangle) == [*tangle, "nomaflow.engine.a"]
