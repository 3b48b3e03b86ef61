"""The docs stay true: the embedding example runs as written, and the REST reference names every route
of the OpenAPI document."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from nomaflow.engine.server.api.routes import openapi_document
from nomaflow.engine.server.auth.tokens import Role
from tests.engine.server.conftest import ENVIRON, INSTALL

pytestmark = pytest.mark.anyio
DOCS = Path(__file__).parents[3] / "docs"


def _python_block(page: str) -> str:
    found = re.search(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.DOTALL)
    assert found, f"no python example in {page}"
    return found.group(1)


async def test_the_embedding_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The example opens "app.toml" in the working directory: give it the tests' install there.
    app_toml = INSTALL.read_text(encoding="utf-8").replace(
        "[jobs]\n", f'[jobs]\nplugins = "{INSTALL.parent / "plugins"}"\n', 1
    )
    (tmp_path / "app.toml").write_text(app_toml, encoding="utf-8")
    (tmp_path / "billing_app.py").write_text(_python_block("embedding.md"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOMAFLOW_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}")
    spec = importlib.util.spec_from_file_location("billing_app", tmp_path / "billing_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "billing_app", module)
    spec.loader.exec_module(module)
    app, nomaflow = module.app, module.nomaflow

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://billing") as http:
            assert (await http.get("/invoices/7")).json() == {"number": 7}
            assert (await http.get("/health")).json()["status"] == "ok"
            rebuilt = await http.post("/invoices/rebuild")
            assert rebuilt.status_code == 202 and rebuilt.json()["status"] == "running"
            token = nomaflow.tokens.issue(
                "doc", Role.viewer, "service", timedelta(minutes=5), nomaflow.engine.clock.now()
            )
            run = await http.get(
                f"/admin/runs/{rebuilt.json()['run_id']}",
                params={"wait": 30},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert run.status_code == 200 and run.json()["status"] == "succeeded"
            schema = (await http.get("/openapi.json")).json()
            assert "/invoices/{number}" in schema["paths"] and "/admin/jobs/{name}/run" in schema["paths"]


def test_the_rest_reference_names_every_route() -> None:
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    for path, methods in openapi_document()["paths"].items():
        for method in methods:
            assert f"`{method.upper()} {path}`" in page, (
                f"docs/api.md does not describe {method.upper()} {path}"
            )
