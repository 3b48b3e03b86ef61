"""A PostgreSQL server of the test's own, to stop and start at will: never the shared one on 5432.

Made with initdb in a fresh folder and run with pg_ctl on a free port. PostgreSQL refuses to run as
root, and the tests run as root here, so both run as the `postgres` user (runuser), in a folder that
user owns. The binaries come from NOMAFLOW_TEST_PG_BIN (default /usr/lib/postgresql/15/bin).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_BIN = "/usr/lib/postgresql/15/bin"


class ThrowawayPostgres:
    def __init__(self, bin_dir: Path, folder: Path, user: str) -> None:
        self._bin = bin_dir
        self.folder = folder
        self._user = user
        self.data = folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.log = folder / "server.log"

    def _run(self, *command: str) -> str:
        as_user = ["runuser", "-u", self._user, "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}\n{log}")
        return done.stdout

    def init(self) -> None:
        self._run(
            str(self._bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self._bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@contextmanager
def throwaway_postgres(bin_dir: Path, user: str = "postgres") -> Iterator[ThrowawayPostgres]:
    """A server made and started for the caller, stopped and deleted after."""
    folder = Path(tempfile.mkdtemp(prefix="nomaflow-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user=user, group=user)
    server = ThrowawayPostgres(bin_dir, folder, user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            with contextlib.suppress(RuntimeError):
                server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
