"""The docs stay true: the embedding page's examples run as written, and the REST reference names every
route of the OpenAPI document."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from nomaflow.engine.server.api.routes import openapi_document
from tests.engine.server.conftest import ENVIRON, INSTALL

pytestmark = pytest.mark.anyio
DOCS = Path(__file__).parents[3] / "docs"


RUNS_AS_WRITTEN = "<!-- runs as written: tests/engine/server/test_docs.py -->\n```python\n"


def _runnable_blocks(page: str) -> list[str]:
    """The python blocks of a page marked as running as written, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(re.escape(RUNS_AS_WRITTEN) + r"(.*?)```", text, re.DOTALL)
    assert blocks, f"no runnable python example in {page}"
    return blocks


README = DOCS.parent / "README.md"
# What the README's job calls (plugins/billing/invoicing.py in its example).
INVOICING = """
def rebuild_vat(period: str = "", previous_month: str = "") -> dict[str, str]:
    return {"period": period or previous_month}
"""


@pytest.fixture
def install_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The examples open "app.toml" in the working directory: an install there holding the README's
    job (billing-nightly-rebuild) and the tests' [auth]."""
    readme_job = re.search(r"```toml\n(\[\[jobs\]\].*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert readme_job, "the README shows no jobs.toml"
    billing = tmp_path / "plugins" / "billing"
    billing.mkdir(parents=True)
    (billing / "__init__.py").write_text("")
    (billing / "invoicing.py").write_text(INVOICING)
    (billing / "jobs.toml").write_text(readme_job.group(1))
    app_toml = INSTALL.read_text(encoding="utf-8").replace(
        "[jobs]\n", f'[jobs]\nplugins = "{tmp_path / "plugins"}"\n', 1
    )
    (tmp_path / "app.toml").write_text(app_toml, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOMAFLOW_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}")
    return tmp_path


def _load(source: str, name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (folder / f"{name}.py").write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


async def test_the_embedding_example_runs_as_written(
    install_here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load(_runnable_blocks("embedding.md")[0], "billing_app", install_here, monkeypatch)
    app = module.app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://billing") as http:
            assert (await http.get("/invoices/7")).json() == {"number": 7}
            assert (await http.get("/ops/jobs/health")).json()["status"] == "ok"
            rebuilt = await http.post("/invoices/rebuild")
            assert rebuilt.status_code == 202 and rebuilt.json()["status"] == "running"
            run_path = f"/ops/jobs/admin/runs/{rebuilt.json()['run_id']}"
            assert (await http.get(run_path)).status_code == 401
            http.cookies.set("billing_session", "vic")
            run = await http.get(run_path, params={"wait": 30})
            assert run.status_code == 200 and run.json()["status"] == "succeeded"
            by_hand = "/ops/jobs/admin/jobs/billing-nightly-rebuild/run"
            assert (await http.post(by_hand)).status_code == 403
            http.cookies.set("billing_session", "olga")
            assert (await http.post(by_hand)).json()["triggered_by"] == "user:olga"
            assert "/invoices/{number}" in (await http.get("/openapi.json")).json()["paths"]
            own = (await http.get("/ops/jobs/openapi.json")).json()
            assert "/admin/jobs/{name}/run" in own["paths"]


async def test_the_lifespan_example_runs_as_written(
    install_here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load(_runnable_blocks("embedding.md")[1], "billing_lifespan", install_here, monkeypatch)
    app, nomaflow = module.app, module.nomaflow
    async with app.router.lifespan_context(app):
        assert app.state.nomaflow is nomaflow.engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://billing") as http:
            assert (await http.get("/ops/jobs/health")).json()["status"] == "ok"


def test_the_python_api_example_runs_as_written(
    install_here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(_runnable_blocks("embedding.md")[2], "billing_script", install_here, monkeypatch)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "step rebuild-vat: succeeded after 1 attempt(s)"
    assert re.fullmatch(r"run [0-9a-f-]{36}: succeeded", printed[1]), printed
    assert re.fullmatch(r"succeeded \{'period': '\d{4}-\d{2}'\}", printed[2]), printed


def test_the_rest_reference_names_every_route() -> None:
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    for path, methods in openapi_document()["paths"].items():
        for method in methods:
            assert f"`{method.upper()} {path}`" in page, (
                f"docs/api.md does not describe {method.upper()} {path}"
            )
