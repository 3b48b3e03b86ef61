"""The `nomaflow` / `liberty-admin` command line (Typer + Rich)."""

from nomaflow.engine.cli.app import app, main

__all__ = ["app", "main"]
