"""Where the job store is: NOMAFLOW_DATABASE_URL, else app.toml's [connectors.default], else nomaflow.db
beside app.toml. Apart from the loader so that a reader of the store (the CLI's `runs list`) finds it
from app.toml's settings alone, without loading the jobs and their step types."""

from __future__ import annotations

import os
from pathlib import Path

from nomaflow.engine.config.model import AppSettings

DATABASE_URL_ENV = "NOMAFLOW_DATABASE_URL"


def database_url(root: Path, settings: AppSettings) -> str:
    """The job store: NOMAFLOW_DATABASE_URL, else [connectors.default], else nomaflow.db beside app.toml."""
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        default = settings.connectors.get("default")
        url = default.url if default else "sqlite+aiosqlite:///nomaflow.db"
        if default is not None and "${" in url:
            # Secrets in the store's URL come from the environment, as for every connector.
            from nomaflow.engine.resources.connectors import resolve_connector

            url = resolve_connector("default", default, root).url.render_as_string(hide_password=False)
    return absolute_sqlite_url(url, root)


def absolute_sqlite_url(url: str, root: Path) -> str:
    """SQLite paths in app.toml are relative to its folder, not to the working directory."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if path and path != ":memory:" and not Path(path).is_absolute():
                return prefix + str((root / path).resolve())
    return url
