"""Shell completion of job names and run ids (`nomaflow --install-completion`, bash, zsh and fish):
from the server when `--server` (or NOMAFLOW_SERVER) is given, else from the install (`--config`, else
NOMAFLOW_CONFIG, else ./app.toml). A completion never fails the shell: anything wrong completes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nomaflow.engine.cli.context import Settings

RECENT_RUNS = 50  # run ids offered: the latest ones, which are the ones people ask about


def _root_params(ctx: Any) -> dict[str, Any]:
    root = ctx.find_root() if ctx is not None else None
    return dict(root.params) if root is not None else {}


def _guarded(find: Callable[[dict[str, Any]], list[str]], ctx: Any, incomplete: str) -> list[str]:
    try:
        names = find(_root_params(ctx))
    except Exception:  # a completion must never print a traceback into a shell
        return []
    return [name for name in names if name.startswith(incomplete)]


def _remote(params: dict[str, Any]) -> tuple[str, str | None] | None:
    server = params.get("server") or os.environ.get("NOMAFLOW_SERVER")
    if not server:
        return None
    return server, params.get("token") or os.environ.get("NOMAFLOW_TOKEN")


def _install(params: dict[str, Any]) -> Any:
    from nomaflow.engine.config import load_install

    config = params.get("config")
    return load_install(Settings(Path(config) if config else None).config_path())


def job_names(params: dict[str, Any]) -> list[str]:
    remote = _remote(params)
    if remote is not None:
        from nomaflow.engine.client import NomaflowClient

        with NomaflowClient(*remote, timeout=5.0) as client:
            return [job["name"] for job in client.jobs()]
    return sorted(_install(params).jobs)


def run_ids(params: dict[str, Any]) -> list[str]:
    remote = _remote(params)
    if remote is not None:
        from nomaflow.engine.client import NomaflowClient

        with NomaflowClient(*remote, timeout=5.0) as client:
            return [run["id"] for run in client.runs(limit=RECENT_RUNS)["runs"]]
    import anyio

    from nomaflow.engine.cli import local

    config = params.get("config")
    url = Settings(Path(config) if config else None).store_url()
    page = anyio.run(lambda: local.runs(url, None, None, RECENT_RUNS))
    return [run["id"] for run in page["runs"]]


def complete_job(ctx: Any, incomplete: str) -> list[str]:
    return _guarded(job_names, ctx, incomplete)


def complete_run(ctx: Any, incomplete: str) -> list[str]:
    return _guarded(run_ids, ctx, incomplete)
