"""A throwaway OpenLDAP server for the ldap_sync tests and benchmark: Debian's `slapd`, started on a free
port with its own slapd.conf and data folder (never the system's instance), loaded with `slapadd`.

Under CI (CI=true) a missing slapd is a failure, never a skip: CI must not pass by testing less.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"

SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
# slapd logs this at the "conns" debug level once its listeners accept connections ("slapd starting"
# comes earlier, before listen()).
_READY = re.compile(r"daemon: \w+: listen=")
_START_TIMEOUT_SECONDS = 30


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_slapd() -> tuple[str, str] | None:
    """(slapd, slapadd) paths, or None when OpenLDAP is not installed."""
    found = []
    for name in ("slapd", "slapadd"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def require_slapd() -> tuple[str, str]:
    found = find_slapd()
    if found is None:
        reason = "OpenLDAP's slapd/slapadd are not installed (scripts/setup.sh installs slapd and ldap-utils)"
        if under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _module_path() -> str:
    for folder in (
        "/usr/lib/ldap",
        "/usr/lib/x86_64-linux-gnu/ldap",
        "/usr/lib/aarch64-linux-gnu/ldap",
        "/usr/libexec/openldap",
    ):
        if Path(folder, "back_mdb.la").exists() or Path(folder, "back_mdb.so").exists():
            return folder
    return "/usr/lib/ldap"


def _schema_folder() -> Path:
    for folder in ("/etc/ldap/schema", "/etc/openldap/schema"):
        if Path(folder, "core.schema").exists():
            return Path(folder)
    return Path("/etc/ldap/schema")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def base_ldif() -> Iterator[str]:
    yield f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
    yield (
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {READER_PASSWORD}\n"
    )


def ou_ldif(ou: str) -> str:
    return f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n"


def person_ldif(ou: str, number: int) -> str:
    """One inetOrgPerson, uid=u<number>, with two telephone numbers (a multi-valued attribute)."""
    uid = f"u{number:06d}"
    return (
        f"dn: uid={uid},ou={ou},{SUFFIX}\n"
        "objectClass: inetOrgPerson\n"
        f"uid: {uid}\n"
        f"cn: Person {number}\n"
        f"sn: {number}\n"
        f"mail: {uid}@example.org\n"
        f"employeeNumber: {number}\n"
        f"departmentNumber: d{number % 10}\n"
        f"telephoneNumber: +33 1 00 {number:06d}\n"
        f"telephoneNumber: +33 6 00 {number:06d}\n"
    )


def people_ldif(ou: str, count: int, start: int = 1) -> Iterator[str]:
    yield ou_ldif(ou)
    for number in range(start, start + count):
        yield person_ldif(ou, number)


class Slapd:
    """One slapd process. `load()` before `start()` (slapadd works offline); `stop()`, `kill()` and
    `start()` again on the same port and data, as a test needs."""

    def __init__(self, folder: Path) -> None:
        self.slapd, self.slapadd = require_slapd()
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = folder / "slapd.conf"
        self.port = free_port()
        self._process: subprocess.Popen[str] | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=200)
        schemas = _schema_folder()
        lines = [f"include {schemas / f'{name}.schema'}" for name in SCHEMAS]
        lines += [
            f"pidfile {folder / 'slapd.pid'}",
            f"argsfile {folder / 'slapd.args'}",
            f"modulepath {_module_path()}",
            "moduleload back_mdb",
            "database mdb",
            "maxsize 1073741824",
            f'suffix "{SUFFIX}"',
            f'rootdn "{ADMIN_DN}"',
            f"rootpw {ADMIN_PASSWORD}",
            f"directory {self.data}",
            "index objectClass eq",
            "index uid eq",
            # Like most production directories, an ordinary account gets at most 1,000 entries per
            # search unless it pages: large reads only work through the paged results control.
            f'limits dn.exact="{READER_DN}" size.soft=1000 size.hard=1000 size.pr=1000'
            " size.prtotal=unlimited",
            "access to attrs=userPassword by self write by anonymous auth by * none",
            "access to * by * read",
        ]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def load(self, entries: Iterable[str]) -> None:
        """Add entries (LDIF records) with slapadd; only while slapd is stopped."""
        assert not self.running, "slapadd needs slapd stopped"
        ldif = self.folder / "load.ldif"
        with ldif.open("w", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(entry.rstrip("\n") + "\n\n")
        result = subprocess.run(
            [self.slapadd, "-f", str(self.config), "-q", "-l", str(ldif)],
            capture_output=True,
            text=True,
            check=False,
        )
        ldif.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"slapadd failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> None:
        assert not self.running
        self._log.clear()
        process = subprocess.Popen(
            [self.slapd, "-f", str(self.config), "-h", f"{self.url}/", "-d", "conns"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(process, ready), daemon=True).start()
        # The reader sets `ready` when slapd accepts connections, or when its output ends (it exited).
        if not ready.wait(_START_TIMEOUT_SECONDS) or process.poll() is not None:
            process.kill()
            process.wait()
            raise RuntimeError(f"slapd did not start on {self.url}:\n" + "\n".join(self._log))
        self._process = process

    def _drain(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._log.append(line.rstrip())
            if not ready.is_set() and _READY.search(line):
                ready.set()
        ready.set()

    def stop(self) -> None:
        """Stop cleanly (SIGTERM) and wait for the process to end."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash or a pulled cable would; returns once the process is gone."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
