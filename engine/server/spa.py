"""The web UI's build (ui/, built by Vite into engine/server/static) served at `/` by `nomaflow serve`.

A file of the build is served as it is; any other path that is not the API's gets index.html, so the
app's own routes (/runs, /runs?run=...) survive a reload. API paths keep their JSON 404s.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
# First path segments that belong to the server, never to the UI.
RESERVED = frozenset({"admin", "socket.io", "health", "metrics", "openapi.json", "docs", "redoc"})
# Vite puts a content hash in every asset's name, so an asset may be cached for good; index.html not.
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = (
    "The web UI is not built: run scripts/setup.sh (or `npm ci && npm run build` in ui/).\n"
    "The API is under /admin.\n"
)


def mount_spa(app: FastAPI, static: Path = STATIC) -> None:
    """Add the catch-all route that serves the UI; call it after every other route is added."""
    root = static.resolve()

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def spa(path: str) -> Response:
        if path.split("/", 1)[0] in RESERVED:
            raise HTTPException(404, "Not Found")
        if path:
            wanted = _file_of(root, path)
            if wanted is not None:
                cache = IMMUTABLE if path.startswith("assets/") else "no-cache"
                return FileResponse(wanted, headers={"Cache-Control": cache})
            if path.startswith("assets/"):
                raise HTTPException(404, "Not Found")
        index = root / "index.html"
        if not index.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=503)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def _file_of(root: Path, path: str) -> Path | None:
    """The build's file at `path`, or None: also for paths no file system accepts (a NUL byte, a name
    longer than the system allows), which are a client's mistake, never the server's."""
    try:
        wanted = (root / path).resolve()
        return wanted if wanted.is_relative_to(root) and wanted.is_file() else None
    except (OSError, ValueError):
        return None
