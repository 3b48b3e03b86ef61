"""The UI build step of setup.sh and of the build backend (scripts/ui_build.py): skipped while the build
is up to date, one paragraph naming what to install when npm is missing, and an unpacked sdist builds
with the UI it holds. Source trees are made under tmp_path; npm is never run here (tests/e2e/test_wheel.py
builds for real)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from ui_build import BUILT_STAMP, NO_NPM, STATIC, UiBuildError, ensure_built, sources_digest  # noqa: E402


def _checkout(root: Path, *, built: bool, stamped: bool) -> Path:
    ui = root / "ui"
    (ui / "src").mkdir(parents=True)
    (ui / "package.json").write_text('{"name": "ui"}')
    (ui / "package-lock.json").write_text("{}")
    (ui / "src" / "main.ts").write_text("console.log('hi')")
    if built:
        (root / STATIC).mkdir(parents=True)
        (root / STATIC / "index.html").write_text("<html></html>")
    if stamped:
        (ui / "node_modules").mkdir()
        (ui / BUILT_STAMP).write_text(sources_digest(ui) + "\n")
    return root


@pytest.fixture
def no_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.usefixtures("no_npm")
def test_an_up_to_date_build_is_not_rebuilt(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "repo", built=True, stamped=True)
    assert ensure_built(root) is False


@pytest.mark.usefixtures("no_npm")
def test_a_changed_source_needs_a_build_and_without_npm_says_what_to_install(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "repo", built=True, stamped=True)
    (root / "ui" / "src" / "main.ts").write_text("console.log('changed')")
    with pytest.raises(UiBuildError) as raised:
        ensure_built(root)
    assert str(raised.value) == NO_NPM
    assert "Node.js 20.19 or later and npm" in NO_NPM and "sdist" in NO_NPM


@pytest.mark.usefixtures("no_npm")
def test_an_unpacked_sdist_uses_the_build_it_holds(tmp_path: Path) -> None:
    sdist = tmp_path / "nomaflow-0.2.0"
    (sdist / STATIC).mkdir(parents=True)
    (sdist / STATIC / "index.html").write_text("<html></html>")
    assert ensure_built(sdist) is False
    (sdist / STATIC / "index.html").unlink()
    with pytest.raises(UiBuildError, match="neither the web UI's sources"):
        ensure_built(sdist)


def test_the_build_backend_ends_with_that_paragraph_not_a_traceback(tmp_path: Path) -> None:
    # What pip runs for `pip install .` in a checkout whose UI is not built, on a machine without npm.
    root = _checkout(tmp_path / "repo", built=False, stamped=False)
    hook = "import build_backend; build_backend.build_wheel('dist')"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT / "scripts")}
    done = subprocess.run(
        [sys.executable, "-c", hook], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {NO_NPM}"
    assert not (root / "dist").exists()
