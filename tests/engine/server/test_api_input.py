"""Bad input never makes a 500: malformed JSON and wrong types are 422 naming the field, unknown jobs
and runs 404, malformed run ids 422, large bodies 413, missing or weak credentials 401/403."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.engine.server.conftest import Served

pytestmark = pytest.mark.anyio


def _locations(response: Any) -> list[list[Any]]:
    return [item["loc"] for item in response.json()["detail"]]


async def test_malformed_json_and_wrong_types_name_the_field(served: Served) -> None:
    headers = {**served.auth("operator"), "content-type": "application/json"}
    post = served.http.post

    malformed = await post("/admin/jobs/quick/run", content=b'{"params": ', headers=headers)
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["type"] == "json_invalid"

    cases = {
        '{"dry_run": "yes"}': ["body", "dry_run"],
        '{"params": ["lines"]}': ["body", "params"],
        '{"params": {"lines": "two"}}': ["body", "params", "lines"],
        '{"params": {"colour": "red"}}': ["body", "params", "colour"],
        '{"param": {}}': ["body", "param"],
        "[1, 2]": ["body"],
    }
    for body, location in cases.items():
        response = await post("/admin/jobs/quick/run", content=body.encode(), headers=headers)
        assert response.status_code == 422, body
        assert location in _locations(response), (body, response.json())

    typo = await post("/admin/jobs/quick/run", json={"params": {"lnes": 2}}, headers=served.auth("operator"))
    assert 'did you mean "lines"' in typo.json()["detail"][0]["msg"]


async def test_unknown_jobs_and_runs_are_404_and_malformed_run_ids_422(served: Served) -> None:
    admin = served.auth("admin")
    for method, path in [
        ("GET", "/admin/jobs/nope"),
        ("POST", "/admin/jobs/nope/run"),
        ("POST", "/admin/jobs/nope/pause"),
        ("POST", "/admin/jobs/nope/resume"),
    ]:
        response = await served.http.request(method, path, headers=admin)
        assert response.status_code == 404, path
    unknown = str(uuid.uuid4())
    for method, suffix in [
        ("GET", ""),
        ("GET", "/logs"),
        ("GET", "/diagram"),
        ("POST", "/abort"),
        ("POST", "/retry"),
    ]:
        missing = await served.http.request(method, f"/admin/runs/{unknown}{suffix}", headers=admin)
        assert missing.status_code == 404, suffix
        malformed = await served.http.request(method, f"/admin/runs/not-a-run{suffix}", headers=admin)
        assert malformed.status_code == 422 and ["path", "run_id"] in _locations(malformed), suffix


async def test_bad_query_parameters_are_422(served: Served) -> None:
    viewer = served.auth("viewer")
    cases: list[tuple[dict[str, str | int], list[str]]] = [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 100_000}, ["query", "limit"]),
        ({"status": "exploded"}, ["query", "status"]),
        ({"since": "2026-01-01T00:00:00"}, ["query", "since"]),  # no UTC offset: ambiguous
        ({"until": "yesterday"}, ["query", "until"]),
        ({"cursor": "garbage!"}, ["query", "cursor"]),
    ]
    for params, location in cases:
        response = await served.http.get("/admin/runs", params=params, headers=viewer)
        assert response.status_code == 422 and location in _locations(response), params
    run_id = str(uuid.uuid4())
    for bad in ({"after_seq": -1}, {"wait": 1000}, {"limit": 0}):
        response = await served.http.get(f"/admin/runs/{run_id}/logs", params=bad, headers=viewer)
        assert response.status_code == 422, bad
    long_key = await served.http.post(
        "/admin/jobs/quick/run", headers={**served.auth("operator"), "Idempotency-Key": "k" * 300}
    )
    assert long_key.status_code == 422 and ["header", "Idempotency-Key"] in _locations(long_key)


async def test_oversized_bodies_are_413(served: Served) -> None:
    headers = {**served.auth("operator"), "content-type": "application/json"}
    big = b'{"params": {"lines": 1}, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    declared = await served.http.post("/admin/jobs/quick/run", content=big, headers=headers)
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams in
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    streamed = await served.http.post("/admin/jobs/quick/run", content=chunks(), headers=headers)
    assert streamed.status_code == 413


async def test_credentials_are_checked_before_anything_else(served: Served) -> None:
    missing = await served.http.post("/admin/jobs/quick/run")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    garbage = await served.http.get("/admin/jobs", headers={"Authorization": "Bearer not.a.jwt"})
    basic = await served.http.get("/admin/jobs", headers={"Authorization": "Basic YTpi"})
    assert garbage.status_code == basic.status_code == 401
    viewer = await served.http.post("/admin/jobs/quick/run", headers=served.auth("viewer"))
    assert viewer.status_code == 403 and "operator" in viewer.json()["detail"]
    assert (await served.http.get("/admin/runs", headers=served.auth("viewer"))).status_code == 200
