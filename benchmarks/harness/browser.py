"""Debian's Chromium, driven by Playwright, for the UI benchmarks: an install with one operator who can
sign in, and a browser context already signed in as that operator (never a downloaded browser)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Playwright

import nomaflow.engine.server
from benchmarks.harness.server import SECRET
from nomaflow.engine.server.auth.tokens import hash_password

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "bench", "bench-password"
# The server reads the JWT secret from its environment: NomaflowServer(..., environment=SERVER_ENVIRONMENT).
SERVER_ENVIRONMENT = {"NOMAFLOW_JWT_SECRET": SECRET}
APP_TOML = """\
[jobs]
scheduler_enabled = false
timezone = "UTC"

[auth]
secret = "${{env.NOMAFLOW_JWT_SECRET}}"

[auth.users.{user}]
password_hash = "{hash}"
role = "operator"
"""


def require_built_ui() -> None:
    if not (Path(nomaflow.engine.server.__file__).parent / "static" / "index.html").exists():
        raise SystemExit("the UI is not built: run scripts/setup.sh (or npm ci && npm run build in ui/)")


def write_install(folder: Path, jobs_toml: str) -> Path:
    """An install in `folder` with the app `benchjobs` (its jobs `jobs_toml`, its one step callable
    `benchjobs.steps:work`, which does nothing) and the operator USER; the app.toml's path."""
    plugin = folder / "plugins" / "benchjobs"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "steps.py").write_text("def work(ctx):\n    return {}\n")
    (plugin / "jobs.toml").write_text(jobs_toml)
    app = folder / "app.toml"
    app.write_text(APP_TOML.format(user=USER, hash=hash_password(PASSWORD)))
    return app


def sign_in(server_url: str) -> dict[str, Any]:
    """USER's token, through the API as the sign-in page would get it."""
    login = httpx.post(f"{server_url}/admin/login", json={"username": USER, "password": PASSWORD}, timeout=30)
    login.raise_for_status()
    token: dict[str, Any] = login.json()
    return token


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def signed_in_context(browser: Browser, token: dict[str, Any], **options: Any) -> BrowserContext:
    """A browser context (1280x860 unless `options` say otherwise) whose pages open signed in with
    `token`, as the app keeps its session in localStorage."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **options})
    session = {key: token[key] for key in ("subject", "role", "expires_at")}
    session["token"] = token["access_token"]
    stored = json.dumps(json.dumps(session))  # a JS string literal holding the JSON
    context.add_init_script(f"localStorage.setItem('nomaflow.session', {stored})")
    return context
