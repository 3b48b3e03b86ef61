"""Docs as tests: every code block of README.md and docs/**/*.md is run, or is marked as shown only.

- `python`: executed, each page's blocks in order in one namespace (as a reader would type them), in a
  copy of tests/docs/install/ holding the README's own job, with the working directory there.
- `toml`: parsed; a jobs.toml (or a `[[jobs.steps]]` excerpt, put into a job) or an app.toml is then
  loaded by the configuration loader against that install, and must load without a problem.
- `sh`: each `nomaflow ...` / `liberty-admin ...` line runs through the CLI against that install
  (`serve` excepted: it runs until stopped, and tests/e2e/test_serve.py runs it). A block with any other
  command must be marked `<!-- not-tested: why -->`.
- `json`: parsed. `sql`: a named-queries file is read by the query loader; other SQL runs on SQLite.
- Shown only, by their info string: text (output, trees, diagrams), mermaid, js, nginx, ini. A block
  without an info string fails: say what it is.

The session's summary line says how many blocks ran (tests/docs/conftest.py).
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import sqlite3
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nomaflow.engine.cli import app
from nomaflow.engine.config import ConfigError, load_install
from nomaflow.engine.resources.queries import QueryBook
from tests.docs.blocks import ROOT, Block, every_block
from tests.docs.conftest import TALLY

BLOCKS = every_block()
FIXTURE = Path(__file__).parent / "install"
SHOWN_ONLY = {
    "text": "output, a file tree or a diagram",
    "mermaid": "a diagram (tests/states/test_docs_diagrams.py compares it with the machines)",
    "js": "a browser's code",
    "nginx": "a reverse proxy's configuration",
    "ini": "a service manager's unit",
}
APP_TABLES = {"connectors", "jobs", "server", "auth", "http"}
# Every ${env.NAME} the docs use, set for the loads (long enough to be a signing secret).
ENV_NAMES = sorted(
    {name for block in BLOCKS for name in re.findall(r"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}", block.text)}
)
# A run's id, as `job run` and `runs list` print it: what `<run-id>` in a later command stands for.
RUN_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _readme_job() -> str:
    """The README's jobs.toml, which its CLI and Python examples run."""
    readme = next(b for b in BLOCKS if b.page.name == "README.md" and b.info == "toml")
    return readme.text


def _query_files() -> dict[str, str]:
    """The docs' named-query files (docs/connectors.md's), which their sql_query examples use."""
    return {
        f"docs_{block.page.stem}_{block.line}.sql": block.text
        for block in BLOCKS
        if block.info == "sql" and "-- name:" in block.text
    }


def make_install(
    root: Path, jobs: str | None = None, app_toml: str | None = None, app: str = "billing"
) -> Path:
    """A copy of the docs' install: the README's job (or `jobs`) as plugins/<app>/jobs.toml."""
    shutil.copytree(FIXTURE, root)
    (root / "plugins" / "billing" / "jobs.toml").write_text(_readme_job() if jobs is None else "")
    if jobs is not None:
        (root / "plugins" / app).mkdir(parents=True, exist_ok=True)
        (root / "plugins" / app / "jobs.toml").write_text(jobs)
    for name, text in _query_files().items():
        (root / "plugins" / "billing" / "queries" / name).write_text(text)
    if app_toml is not None:
        (root / "app.toml").write_text(app_toml)
    return root / "app.toml"


def _foreign_plugin(module: object, root: Path) -> bool:
    file = str(getattr(module, "__file__", "") or "")
    in_a_plugins_folder = f"{os.sep}plugins{os.sep}" in file and "site-packages" not in file
    return in_a_plugins_folder and not file.startswith(str(root) + os.sep)


@contextlib.contextmanager
def isolated(root: Path) -> Iterator[None]:
    """Run a block in `root` and leave the process as it was: working directory, sys.path, the
    modules imported from `root`, and the logging configuration a block may replace."""
    cwd, path, modules = Path.cwd(), list(sys.path), set(sys.modules)
    # Plugin modules other tests imported from their own installs (a `billing` package of theirs)
    # would stand in for this install's of the same name: set aside for the block, then put back.
    foreign = {name: module for name, module in sys.modules.items() if _foreign_plugin(module, root)}
    for name in foreign:
        del sys.modules[name]
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    loggers = {
        name: (logger.disabled, logger.level, list(logger.handlers), logger.propagate)
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(root.parent)):
                del sys.modules[name]
        sys.modules.update(foreign)
        root_logger.handlers[:] = handlers
        root_logger.setLevel(level)
        for name, (disabled, old_level, old_handlers, propagate) in loggers.items():
            logger = logging.getLogger(name)
            logger.disabled, logger.propagate = disabled, propagate
            logger.setLevel(old_level)
            logger.handlers[:] = old_handlers


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.setenv(name, f"docs-test-value-of-{name}-long-enough-for-a-secret")
    monkeypatch.delenv("NOMAFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("NOMAFLOW_SERVER", raising=False)
    monkeypatch.delenv("NOMAFLOW_CONFIG", raising=False)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the blocks of one session share: the install, each page's namespace, the last run id."""
    root = tmp_path_factory.mktemp("docs") / "install"
    return {"app_toml": make_install(root), "namespaces": {}, "run_id": None}


def _load(app_toml: Path) -> None:
    try:
        load_install(app_toml, to_serve=True)
    except ConfigError as exc:
        pytest.fail(f"the example does not load:\n{exc}")


# --- one checker per kind of block ---


def check_python(block: Block, shared: dict[str, Any]) -> str:
    code = compile(block.text, block.name, "exec", flags=ast.PyCF_ONLY_AST)
    assert isinstance(code, ast.Module)
    namespace = shared["namespaces"].setdefault(block.page, {"__name__": "__docs__"})
    root = shared["app_toml"].parent
    with isolated(root):
        sys.path.insert(0, str(root / "plugins"))
        exec(compile(code, block.name, "exec"), namespace)
    return "python executed"


def check_toml(block: Block, tmp_path: Path) -> str:
    try:
        data = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as exc:
        pytest.fail(f"not TOML: {exc}")
    jobs = data.get("jobs")
    if isinstance(jobs, list):
        named = re.search(r"^#\s*plugins/([^/\s]+)/jobs\.toml", block.text, re.MULTILINE)
        with isolated(tmp_path):
            _load(make_install(tmp_path / "install", block.text, app=named[1] if named else "docs"))
        return "toml loaded as jobs.toml"
    if isinstance(jobs, dict) and set(data) == {"jobs"} and isinstance(jobs.get("steps"), list):
        # A `[[jobs.steps]]` excerpt: put into a job that declares the params it reads.
        params = sorted(set(re.findall(r"\$\{params\.([A-Za-z0-9_-]+)", block.text)))
        declared = ", ".join(f'{name} = ""' for name in params)
        job = f'[[jobs]]\nname = "docs-example"\nparams = {{ {declared} }}\n\n{block.text}'
        with isolated(tmp_path):
            _load(make_install(tmp_path / "install", job, app="docs"))
        return "toml loaded as steps of a job"
    if data and set(data) <= APP_TABLES and not (isinstance(jobs, dict) and "steps" in jobs):
        with isolated(tmp_path):
            _load(make_install(tmp_path / "install", "", app_toml=block.text, app="docs"))
        return "toml loaded as app.toml"
    return "toml parsed (an excerpt)"


def _commands(text: str) -> Iterator[str]:
    """The shell block's commands: continuation lines joined, comments and blank lines left out."""
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield shlex.join(words)


def check_sh(block: Block, shared: dict[str, Any]) -> str:
    commands = list(_commands(block.text))
    others = [c for c in commands if shlex.split(c)[0] not in ("nomaflow", "liberty-admin")]
    assert not others, f"runs more than nomaflow ({others[0]!r}): mark it <!-- not-tested: why -->"
    ran = 0
    for command in commands:
        words = shlex.split(command)[1:]
        if "serve" in words:
            continue  # runs until stopped: tests/e2e/test_serve.py starts it for real
        if shared["run_id"] is not None:
            words = [shared["run_id"] if word == "<run-id>" else word for word in words]
        if "--config" not in words:
            words = ["--config", str(shared["app_toml"]), *words]
        else:
            words[words.index("--config") + 1] = str(shared["app_toml"])
        with isolated(shared["app_toml"].parent):
            result = CliRunner().invoke(app, words, input="docs-password\ndocs-password\n")
        assert result.exit_code == 0, f"`{command}` exited {result.exit_code}:\n{result.output}"
        found = RUN_ID.search(result.output)
        if found:
            shared["run_id"] = found[0]
        ran += 1
    assert ran, "no command of this block could run here: mark it <!-- not-tested: why -->"
    return "sh commands run"


def check_sql(block: Block, tmp_path: Path) -> str:
    if "-- name:" in block.text:
        folder = tmp_path / "plugins" / "docs" / "queries"
        folder.mkdir(parents=True)
        (folder / "queries.sql").write_text(block.text)
        book = QueryBook.load(tmp_path / "plugins")
        assert not book.problems, book.problems
        assert book.queries, "no named query read"
        return "sql read as named queries"
    with sqlite3.connect(":memory:") as database:
        database.executescript(block.text)
    return "sql run on SQLite"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_docs_block(block: Block, shared: dict[str, Any], tmp_path: Path) -> None:
    if block.not_tested is not None:
        if block.info == "python":
            # Not run, but still valid Python (a fragment of a session may await at the top).
            compile(block.text, block.name, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            TALLY["shown only (not-tested, python compiled)"] += 1
        else:
            TALLY["shown only (not-tested)"] += 1
        return
    if block.info in SHOWN_ONLY:
        TALLY[f"shown only ({block.info})"] += 1
        return
    if block.info == "python":
        how = check_python(block, shared)
    elif block.info == "toml":
        how = check_toml(block, tmp_path)
    elif block.info in ("sh", "bash", "shell"):
        how = check_sh(block, shared)
    elif block.info == "json":
        json.loads(block.text)
        how = "json parsed"
    elif block.info == "sql":
        how = check_sql(block, tmp_path)
    else:
        pytest.fail(
            f"a block with info string {block.info!r}: give it one of python, toml, sh, json, sql, "
            f"or mark it shown only ({', '.join(sorted(SHOWN_ONLY))}, or <!-- not-tested: why -->)"
        )
    TALLY[how] += 1


def test_every_page_is_read() -> None:
    assert any(block.page == ROOT / "README.md" for block in BLOCKS)
    assert len({block.page for block in BLOCKS}) >= 15
