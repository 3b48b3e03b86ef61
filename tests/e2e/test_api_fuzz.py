"""Schemathesis over the published OpenAPI document, against a real `nomaflow serve`, as admin: every
operation gets valid and invalid requests (deterministic, a bounded number per operation), and no
answer is a 5xx.

The document the fuzzer reads is the published one, told a little about the test install so that its
requests reach real jobs and runs instead of ending in 404s: the names of a few jobs (echo, nightly,
and one that does not exist), the params `echo` declares, and the ids of runs that exist. Negative
examples still go anywhere the schema does not allow. The server stores in PostgreSQL, stricter than
SQLite about what it accepts. Costs about 20 s, one server start included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from nomaflow.engine.server.api.routes import openapi_document
from nomaflow.engine.store import upgrade
from tests.conftest import PgServer
from tests.engine.server.processes import INSTALL, Server

pytestmark = [pytest.mark.e2e]

JOBS = ["echo", "nightly", "no-such-job"]  # never `quick` or `gated`: their params can make a run last
ECHO_PARAMS = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "tags": {"type": "array"},
        "extra": {"type": "object"},
    },
    "additionalProperties": True,
}


@pytest.fixture(scope="module")
def fuzzed(pg_admin_url: str) -> Iterator[tuple[Server, list[str]]]:
    """The server on a PostgreSQL database of its own (stricter than SQLite about what it stores: a
    NUL in a param reaches the database there), and the ids of runs it holds: one succeeded, one
    failed (so retry has work)."""
    databases = PgServer(pg_admin_url)
    url = anyio.run(databases.create_database)
    anyio.run(upgrade, url)
    server = Server(INSTALL, url)
    try:
        with httpx.Client(base_url=server.url, headers=server.auth("admin"), timeout=30) as http:
            ids = []
            for job, params in (("echo", {"text": "hi"}), ("quick", {"fail": True})):
                started = http.post(f"/admin/jobs/{job}/run", json={"params": params})
                assert started.status_code == 202, started.text
                ids.append(started.json()["run_id"])
                ended = http.get(f"/admin/runs/{ids[-1]}", params={"wait": 30}).json()
                assert ended["status"] in ("succeeded", "failed"), ended
        yield server, ids
    finally:
        output = server.stop()
        anyio.run(databases.drop_database, url)
        assert "Traceback" not in output, output[-5000:]


# Stand-ins for the fixture's run ids, which exist only once the server runs: the schema is read when
# this module is imported, so each case's stand-in is swapped for the real id just before it is sent.
STAND_INS = [f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2)]


def _described(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "name":
                    parameter["schema"] = {"type": "string", "enum": JOBS}
                elif parameter["in"] == "path" and parameter["name"] == "run_id":
                    parameter["schema"] = {"type": "string", "enum": [*STAND_INS, str(uuid.UUID(int=7))]}
    document["components"]["schemas"]["TriggerIn"]["properties"]["params"] = ECHO_PARAMS
    return document


schema = schemathesis.openapi.from_dict(_described(openapi_document()))


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case: Any, fuzzed: tuple[Server, list[str]]) -> None:
    server, run_ids = fuzzed
    run_id = (case.path_parameters or {}).get("run_id")
    if run_id in STAND_INS:
        case.path_parameters["run_id"] = run_ids[STAND_INS.index(run_id)]
    headers = {**(case.headers or {}), **server.auth("admin", "fuzzer")}
    response = case.call(base_url=server.url, headers=headers, timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}\n"
        f"{case.as_curl_command()}"
    )
