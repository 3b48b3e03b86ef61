"""The `nomaflow` / `liberty-admin` command line (Typer + Rich)."""

from engine.cli.app import app, main

__all__ = ["app", "main"]
