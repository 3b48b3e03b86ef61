"""Nomaflow's build backend: setuptools' own, with the web UI built first (scripts/ui_build.py), so every
wheel and sdist built from the repository serves the UI of its sources, and an sdist builds its wheel
with no Node.js. pyproject.toml names it: build-backend = "build_backend", backend-path = ["scripts"].

Editable installs (pip install -e .) do not build the UI: scripts/setup.sh does, and a checkout without a
build answers / with a message saying how to make one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import build_meta as setuptools_backend
from setuptools.build_meta import (  # the hooks used as they are
    build_editable,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)
from ui_build import UiBuildError, ensure_built


def _build_ui() -> None:
    # Build front ends run every hook in the source tree's root.
    try:
        ensure_built(Path.cwd(), lambda line: print(f"nomaflow: {line}", file=sys.stderr, flush=True))
    except UiBuildError as exc:
        # Exits the hook's process: the front end shows this paragraph, not a traceback.
        sys.exit(f"\nerror: {exc}\n")


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, str | list[str]] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _build_ui()
    return setuptools_backend.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: dict[str, str | list[str]] | None = None) -> str:
    _build_ui()
    return setuptools_backend.build_sdist(sdist_directory, config_settings)


__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]
