"""Build the web UI (ui/, with Vite) into engine/server/static, unless the build there is up to date.

One implementation for the two callers: scripts/setup.sh (a checkout) and the build backend
(scripts/build_backend.py), so every wheel and sdist made from a checkout holds the UI of its sources.
A source tree without ui/ (an unpacked sdist) must already hold the build. Standard library only: the
build backend runs it before anything is installed.

    python scripts/ui_build.py [ROOT]
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# What the build depends on, as globs under ui/ (node_modules is the lock file's business).
SOURCES = ("src/**/*", "index.html", "package.json", "package-lock.json", "vite.config.*", "tsconfig*.json")
# Through the package's link in a checkout (nomaflow/engine -> ../engine), a real folder in an sdist.
STATIC = Path("nomaflow", "engine", "server", "static")
BUILT_STAMP = Path("node_modules", ".nomaflow-built")  # the digest of the sources last built
LOCK_STAMP = Path("node_modules", ".nomaflow-lock")  # the digest of the lock file last installed

NO_NPM = (
    "Building Nomaflow from its repository builds the web UI first (ui/, with Vite), which needs Node.js "
    "20.19 or later and npm on PATH; npm was not found. Install them (Debian/Ubuntu: apt-get install "
    "nodejs npm, or an installer from nodejs.org) and build again, or build from Nomaflow's sdist, which "
    "already holds the built UI (pip install nomaflow-<version>.tar.gz needs no Node.js)."
)
NO_UI = (
    "This source tree has neither the web UI's sources (ui/package.json) nor its build ({static}/"
    "index.html), so a wheel built from it would serve no UI. Build from a clone of Nomaflow's "
    "repository (with Node.js and npm) or from its sdist, which holds the built UI."
)


class UiBuildError(Exception):
    """The UI cannot be built here; the message says why and what to do, in one paragraph."""


def sources_digest(ui: Path) -> str:
    """A digest of every file the build reads, names and contents, in a stable order."""
    digest = hashlib.sha256()
    files = sorted({path for pattern in SOURCES for path in ui.glob(pattern) if path.is_file()})
    for path in files:
        digest.update(path.relative_to(ui).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stamp(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def ensure_built(root: Path, log: Callable[[str], None] = print) -> bool:
    """Build the UI of the source tree at `root` if its build is missing or older than its sources.
    Returns whether it built; raises UiBuildError when it cannot."""
    ui = root / "ui"
    index = root / STATIC / "index.html"
    if not (ui / "package.json").is_file():
        if index.is_file():
            return False  # an unpacked sdist: the build came with it
        raise UiBuildError(NO_UI.format(static=STATIC.as_posix()))
    digest = sources_digest(ui)
    if _stamp(ui / BUILT_STAMP) == digest and index.is_file():
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise UiBuildError(NO_NPM)
    lock = hashlib.sha256((ui / "package-lock.json").read_bytes()).hexdigest()
    # Reinstall whenever the lock file changed, not only when node_modules is missing.
    if _stamp(ui / LOCK_STAMP) != lock or not (ui / "node_modules").is_dir():
        log("installing the web UI's packages (npm ci)")
        _npm(npm, ui, "ci", "--no-audit", "--no-fund", "--loglevel=error")
        (ui / LOCK_STAMP).write_text(lock + "\n")
    log("building the web UI (npm run build)")
    _npm(npm, ui, "run", "--silent", "build")
    if not index.is_file():
        raise UiBuildError(f"npm run build finished without writing {STATIC.as_posix()}/index.html")
    (ui / BUILT_STAMP).write_text(digest + "\n")
    return True


def _npm(npm: str, ui: Path, *args: str) -> None:
    try:
        subprocess.run([npm, *args], cwd=ui, check=True)
    except subprocess.CalledProcessError as exc:
        shown = " ".join(["npm", *args])
        raise UiBuildError(
            f"'{shown}' in {ui} failed (exit {exc.returncode}); its output is above. Fix that, or build "
            "from Nomaflow's sdist, which already holds the built UI."
        ) from None


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    try:
        ensure_built(root, lambda line: print(f"[ui] {line}", flush=True))
    except UiBuildError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
