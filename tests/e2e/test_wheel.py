"""The package as users get it: the sdist and the wheel built as a release would build them, installed
into venvs made by `python -m venv` with the pip it ships (never upgraded), then used from there.

- The sdist is built from this checkout (which builds the UI if it is stale), then its wheel from the
  unpacked sdist with no Node.js on PATH: what `pip install nomaflow-<v>.tar.gz` does elsewhere.
- The wheel holds `nomaflow/` and its dist-info only, with the web UI, the migrations and py.typed.
- A stock venv with the wheel and no extras serves the example install: the UI's page and an asset, and
  a remote `job run --wait` with the demo user's token; a connector needing asyncpg is a check problem.
- Beside PyPI's `states` and `actors` (which take those top-level names), Nomaflow imports and serves,
  and a plugin app named `states` loads and runs.

Cost, with pip's cache warm: ~10 s of builds, ~20 s per venv (two), ~60 s in all on this 2-core machine;
the first run on a machine downloads the dependencies once. Under CI a missing tool (pypa/build, venv,
PyPI) fails, never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

import nomaflow
from tests.e2e.conftest import free_port
from tests.engine.server.processes import Output

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
VERSION = nomaflow.__version__
DRIVERS = ("asyncpg", "asyncmy", "ldap3", "redis")


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's settings: what a user's shell would have."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NOMAFLOW_", "VIRTUAL_ENV", "PYTHON"))
    }
    # Nothing of this checkout's .venv on PATH either.
    path = [part for part in env.get("PATH", "").split(os.pathsep) if part and not part.startswith(str(ROOT))]
    env.update(PATH=os.pathsep.join(path), PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1")
    env.update(COLUMNS="200", **extra)
    return env


def _run(command: list[str | Path], *, timeout: float = 600, **options: Any) -> str:
    """Run a set-up step; its failure fails (never skips) the tests that need it, with its output."""
    options.setdefault("env", _clean_env())
    try:
        done = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            timeout=timeout,
            **options,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{command}: {exc}")
    if done.returncode != 0:
        pytest.fail(f"{command} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return str(done.stdout)


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Venv:
    root: Path

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def python(self, code: str) -> str:
        # Run from the venv's folder: from this checkout, `python -c` would import its folders.
        return _run([self.bin("python"), "-c", code], cwd=self.root)

    def pip_install(self, *requirements: str | Path) -> None:
        # --no-compile: byte-compiling every dependency at install time doubles the install's time here;
        # Python compiles what it imports anyway.
        _run(
            [self.bin("python"), "-m", "pip", "install", "--quiet", "--no-compile", *requirements],
            cwd=self.root,
        )


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    try:
        import build  # noqa: F401  (the dev extra's pypa/build)
    except ImportError:
        message = "pypa/build is not installed (it comes with the dev extra: scripts/setup.sh)"
        if _under_ci():
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT], cwd=out)
    [sdist] = out.glob("*.tar.gz")
    unpacked = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    # Only the interpreter on PATH: building from the sdist must not need Node.js.
    no_node = _clean_env(PATH=str(Path(sys.executable).parent))
    source = unpacked / sdist.name.removesuffix(".tar.gz")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, source], env=no_node, cwd=out)
    [wheel] = out.glob("*.whl")
    return Built(sdist, wheel)


def _stock_venv(root: Path) -> Venv:
    # From the interpreter running the tests; `venv` makes it from its base Python, with ensurepip's pip.
    _run([sys.executable, "-m", "venv", root], cwd=root.parent)
    return Venv(root)


@pytest.fixture(scope="session")
def stock(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = _stock_venv(tmp_path_factory.mktemp("stock") / "venv")
    venv.pip_install(built.wheel)
    return venv


# --- what was built ---


def test_the_wheel_holds_nomaflow_only_with_its_ui_migrations_and_types(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"nomaflow-{VERSION}.dist-info/METADATA").decode()
        index = wheel.read("nomaflow/engine/server/static/index.html").decode()
    assert built.wheel.name == f"nomaflow-{VERSION}-py3-none-any.whl"
    assert {name.split("/")[0] for name in names} == {"nomaflow", f"nomaflow-{VERSION}.dist-info"}
    for expected in (
        "nomaflow/py.typed",
        "nomaflow/engine/py.typed",
        "nomaflow/actors/py.typed",
        "nomaflow/states/py.typed",
        "nomaflow/engine/store/migrations/env.py",
        "nomaflow/engine/store/migrations/script.py.mako",
        "nomaflow/engine/store/migrations/versions/0001_initial.py",
        f"nomaflow-{VERSION}.dist-info/licenses/LICENSE",
    ):
        assert expected in names, expected
    assets = re.findall(r'(?:src|href)="\.?/?(assets/[^"]+)"', index)
    assert assets and all(f"nomaflow/engine/server/static/{asset}" in names for asset in assets)

    assert "License-Expression: MIT" in metadata
    required = re.findall(r"^Requires-Dist: (.+)$", metadata, re.MULTILINE)
    unconditional = [line for line in required if "extra ==" not in line]
    assert "python-socketio[asyncio-client]>=5.11" in unconditional
    assert not [line for line in unconditional if line.split(">")[0].split("[")[0] in DRIVERS]
    for extra in ("postgres", "mysql", "ldap", "redis", "all", "otel"):
        assert f"Provides-Extra: {extra}" in metadata


def test_the_sdist_holds_the_built_ui_and_its_build_backend_not_the_ui_sources(built: Built) -> None:
    top = built.sdist.name.removesuffix(".tar.gz")
    with tarfile.open(built.sdist) as archive:
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    for expected in (
        "nomaflow/engine/server/static/index.html",
        "scripts/build_backend.py",
        "scripts/ui_build.py",
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
    ):
        assert expected in names, expected
    assert not [name for name in names if name.startswith(("ui/", "tests/", "engine/", "node_modules"))]


# --- a stock venv with the wheel and no extras ---


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "example", ignore=shutil.ignore_patterns("nomaflow.db*"))
    return tmp_path / "example"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(venv: Venv, install: Path, started: list[subprocess.Popen[str]]) -> str:
    """`nomaflow serve` from the venv in the install's folder (./app.toml); its URL once it listens."""
    port = free_port()
    process = subprocess.Popen(
        [str(venv.bin("nomaflow")), "serve", "--port", str(port)],
        cwd=install,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(process)
    Output(process).wait_for("Uvicorn running on")
    return f"http://127.0.0.1:{port}"


def test_the_stock_venv_has_the_remote_clis_aiohttp_and_no_driver(stock: Venv) -> None:
    found = stock.python(
        "import importlib.util as u\n"
        f"print([m for m in ('aiohttp',) + {DRIVERS!r} if u.find_spec(m) is not None])"
    )
    assert found.strip() == "['aiohttp']"
    assert _run([stock.bin("nomaflow"), "--version"]).strip() == f"nomaflow {VERSION}"
    assert stock.python("import nomaflow; print(nomaflow.__version__)").strip() == VERSION


def test_the_stock_venv_serves_the_ui_and_runs_a_job_for_the_remote_cli(
    stock: Venv, example: Path, serve: list[subprocess.Popen[str]]
) -> None:
    assert "OK:" in _run([stock.bin("nomaflow"), "check"], cwd=example)
    url = _serve(stock, example, serve)
    with httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        [script] = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
        asset = http.get(urljoin(f"{url}/", script))
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
        assert len(asset.content) > 10_000
        # The example's demo user (examples/app.toml; docs/auth.md).
        login = http.post("/admin/login", json={"username": "admin", "password": "nomaflow-demo"})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
    done = subprocess.run(
        [stock.bin("nomaflow"), "--server", url, "--token", token, "job", "run", "sales-report", "--wait"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(cli:admin)" in done.stdout and "✔ publish succeeded" in done.stdout
    assert "run succeeded" in done.stdout and done.stderr == ""


def test_the_stock_venv_says_which_extra_a_postgresql_connector_needs(stock: Venv, tmp_path: Path) -> None:
    install = tmp_path / "install"
    (install / "plugins" / "reports" / "queries").mkdir(parents=True)
    (install / "app.toml").write_text('[connectors.warehouse]\nurl = "postgresql://reporter@db.example/dw"\n')
    (install / "plugins" / "reports" / "queries" / "totals.sql").write_text("-- name: totals\nSELECT 1\n")
    (install / "plugins" / "reports" / "jobs.toml").write_text(
        '[[jobs]]\nname = "totals"\n\n[[jobs.steps]]\nname = "read"\ntype = "sql_query"\n'
        'connector = "warehouse"\nquery = "totals:read"\n'
    )
    done = subprocess.run(
        [stock.bin("nomaflow"), "check"], cwd=install, env=_clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        "jobs[0].steps[0].connector: step 'read' of job 'totals': connector 'warehouse' "
        "(postgresql+asyncpg) needs the asyncpg driver: pip install 'nomaflow[postgres]'"
    ) in done.stderr


# --- beside PyPI's `states` and `actors` ---

STATES_APP = {
    "app.toml": """\
        [jobs]
        scheduler_enabled = false

        [auth]
        secret = "a-test-only-secret-that-is-long-enough-0123456789"
    """,
    "plugins/states/__init__.py": "",
    "plugins/states/transitions.py": """\
        from nomaflow import StepContext


        def announce(ctx: StepContext) -> dict[str, str]:
            ctx.log.info(f"hello from the plugin app 'states' ({__file__})")
            return {"module": __name__}
    """,
    "plugins/states/jobs.toml": """\
        [[jobs]]
        name = "announce"

        [[jobs.steps]]
        name = "hello"
        type = "python"
        callable = "states.transitions:announce"
    """,
}


def test_beside_pypi_states_and_actors_nomaflow_serves_and_a_plugin_app_named_states_runs(
    built: Built, tmp_path: Path, serve: list[subprocess.Popen[str]]
) -> None:
    venv = _stock_venv(tmp_path / "venv")
    venv.pip_install(built.wheel, "states==0.2.1", "actors==0.5.1b1")
    site = venv.python("import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    origins = venv.python(
        "import importlib.util as u, nomaflow, nomaflow.states, nomaflow.actors, nomaflow.engine.server\n"
        "from nomaflow import Engine, Nomaflow\n"
        "print(u.find_spec('states').origin, u.find_spec('actors').origin, nomaflow.states.__file__)"
    ).split()
    assert origins == [
        f"{site}/states/__init__.py",  # PyPI's: the names are theirs now
        f"{site}/actors/__init__.py",
        f"{site}/nomaflow/states/__init__.py",
    ]

    install = tmp_path / "install"
    for name, text in STATES_APP.items():
        (install / name).parent.mkdir(parents=True, exist_ok=True)
        (install / name).write_text(textwrap.dedent(text))
    url = _serve(venv, install, serve)
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    token = _run([venv.bin("nomaflow"), "token", "create", "--sub", "ci", "--role", "operator"], cwd=install)
    done = subprocess.run(
        [venv.bin("nomaflow"), "--server", url, "--token", token.strip(), "job", "run", "announce", "--wait"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"hello from the plugin app 'states' ({install}/plugins/states/transitions.py)" in done.stdout

    # Removing PyPI's packages leaves Nomaflow whole (they once shared files).
    _run(
        [venv.bin("python"), "-m", "pip", "uninstall", "--yes", "--quiet", "states", "actors"], cwd=venv.root
    )
    venv.python("import nomaflow.states.run, nomaflow.actors, nomaflow.engine.cli")
