"""Real `nomaflow serve` processes for the end-to-end server tests.

A thread reads each server's output line by line, so its pipe never fills and a test can wait for a
line to appear (a blocking wait on a condition, never a sleep).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import socketio

from nomaflow.engine.config import load_install
from nomaflow.engine.server.auth.tokens import Role, TokenKind, Tokens
from tests.e2e.conftest import NOMAFLOW, free_port
from tests.engine.server.conftest import INSTALL, SECRET


class Output:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self._thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, needle: str, timeout: float = 60.0, start: int = 0) -> str:
        """The first line (from line `start` on) containing `needle`, once it is printed."""

        def found() -> str | None:
            return next((line for line in self.lines[start:] if needle in line), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None or self._ended, timeout):
                raise AssertionError(
                    f"{needle!r} not printed in {timeout} s:\n" + "\n".join(self.lines[-60:])
                )
            line = found()
        if line is None:
            raise AssertionError(
                f"the process ended without printing {needle!r}:\n" + "\n".join(self.lines[-60:])
            )
        return line

    def join(self, timeout: float = 30.0) -> str:
        self._thread.join(timeout)
        return "\n".join(self.lines)


class Server:
    """One `nomaflow serve` on a free port of 127.0.0.1."""

    def __init__(
        self,
        app_toml: Path,
        database_url: str,
        extra_env: Mapping[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "NOMAFLOW_CONFIG": str(app_toml),
            "NOMAFLOW_DATABASE_URL": database_url,
            "NOMAFLOW_JWT_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            **(extra_env or {}),
        }
        self.tokens = Tokens(load_install(app_toml).settings.auth, self.env)
        self.process = subprocess.Popen(
            [NOMAFLOW, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = Output(self.process)
        if wait:
            self.ready()

    def ready(self) -> None:
        self.output.wait_for("Uvicorn running on")

    def token(self, role: str = "admin", subject: str = "tester", kind: TokenKind = "service") -> str:
        return self.tokens.issue(subject, Role[role], kind, timedelta(hours=1), datetime.now(UTC))

    def auth(
        self, role: str = "admin", subject: str = "tester", kind: TokenKind = "service"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, subject, kind)}"}

    def cli(self, *args: str, role: str = "operator", subject: str = "carol") -> subprocess.Popen[str]:
        """`nomaflow --server <this> --token <role's token> ...args`, output piped."""
        return subprocess.Popen(
            [NOMAFLOW, "--server", self.url, "--token", self.token(role, subject), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        output = self.output.join()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return output


class Listener:
    """A Socket.IO client that records everything it is sent, and lets a test wait for a message."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._arrived = anyio.Event()
        self.client.on("*", self._on_any)

    async def _on_any(self, event: str, data: Any = None) -> None:
        self.received.append((event, data))
        self._arrived.set()

    async def wait_for(self, event: str, seconds: float = 30, **matching: Any) -> dict[str, Any]:
        """The first `event` received whose data has the `matching` values (waiting for it if need be)."""
        with anyio.fail_after(seconds):
            while True:
                for name, data in self.received:
                    if name == event and all(data.get(key) == value for key, value in matching.items()):
                        return data
                self._arrived = anyio.Event()
                await self._arrived.wait()

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        return [data for name, data in self.received if name != "snapshot" and data.get("run_id") == run_id]


__all__ = ["INSTALL", "Listener", "Output", "Server"]
