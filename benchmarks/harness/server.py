"""A real `nomaflow serve` for the benchmarks that measure the server and the UI: one uvicorn process
on a free port of 127.0.0.1, its output read (so the pipe never fills) and kept for when it fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

NOMAFLOW = str(Path(sys.executable).parent / "nomaflow")
SECRET = "bench-secret-" + "b" * 40  # the JWT secret of the benchmarks' installs
STARTED = "Uvicorn running on"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NomaflowServer:
    """`nomaflow serve` for the install at `app_toml`, on `database_url`; `environment` is added to this
    process's. Started when made (it waits until uvicorn says it runs); `stop()` ends it."""

    def __init__(self, app_toml: Path, database_url: str, environment: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: deque[str] = deque(maxlen=200)  # the last lines, for when it fails
        env = {
            **os.environ,
            "NOMAFLOW_CONFIG": str(app_toml),
            "NOMAFLOW_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **(environment or {}),
        }
        self.process = subprocess.Popen(
            [NOMAFLOW, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._ready.wait(120) or self.process.poll() is not None:
            self.stop()
            raise SystemExit("nomaflow serve did not start:\n" + "".join(list(self.lines)[-40:]))

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if STARTED in line:
                self._ready.set()
        self._ready.set()  # it ended: the constructor sees it has, rather than waiting on

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
