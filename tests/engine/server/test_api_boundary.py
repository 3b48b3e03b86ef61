"""Malformed bodies and values the store cannot hold, on every route family: a body that is not JSON is
a 415, one that is not UTF-8 a 422, NUL characters, lone surrogates and non-finite numbers a 422 naming
the field (the param, for params); never a 500, and the engine keeps serving."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.engine.server.conftest import Served

pytestmark = pytest.mark.anyio

# Every route that reads a body, with a body it would accept, and the role it needs.
BODY_ROUTES = [
    ("/admin/jobs/quick/run", {"params": {"lines": 1}}, "operator"),
    ("/admin/jobs/quick/pause", {"reason": "r"}, "admin"),
    ("/admin/jobs/quick/resume", {"reason": "r"}, "admin"),
    (f"/admin/runs/{uuid.uuid4()}/abort", {"reason": "r"}, "operator"),
    ("/admin/login", {"username": "alice", "password": "x"}, "none"),
]


def _headers(served: Served, role: str, **extra: str) -> dict[str, str]:
    return {**(served.auth(role) if role != "none" else {}), **extra}


def _raw_json(document: Any) -> bytes:
    """JSON as a client may send it: `\\u0000` and `\\ud800` escapes written out, NaN as a literal."""
    return json.dumps(document).encode()


@pytest.mark.parametrize(("path", "good", "role"), BODY_ROUTES)
async def test_a_body_that_is_not_json_is_415_whatever_its_bytes(
    served: Served, path: str, good: dict[str, Any], role: str
) -> None:
    cases: list[tuple[bytes, dict[str, str]]] = [
        (b"\xff\xfe", {}),  # no content-type at all: what the request sent
        (b"\xff", {}),
        (json.dumps(good).encode(), {"content-type": "text/plain"}),
        (b"a=b", {"content-type": "application/x-www-form-urlencoded"}),
    ]
    for body, extra in cases:
        response = await served.http.post(path, content=body, headers=_headers(served, role, **extra))
        assert response.status_code == 415, (body, extra, response.text)
        assert "must be JSON" in response.json()["detail"]


@pytest.mark.parametrize(("path", "good", "role"), BODY_ROUTES)
async def test_json_that_is_not_utf8_or_malformed_is_422(
    served: Served, path: str, good: dict[str, Any], role: str
) -> None:
    headers = _headers(served, role, **{"content-type": "application/json"})
    for body in (b"\xff", b"\xff\xfe{}", b'{"reason": "\xe9"}', "{}".encode("utf-16")):
        response = await served.http.post(path, content=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        [error] = response.json()["detail"]
        assert error["type"] == "json_invalid" and "not UTF-8" in error["msg"], error
    malformed = await served.http.post(path, content=b'{"reason": ', headers=headers)
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["type"] == "json_invalid"
    deep = await served.http.post(path, content=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    assert deep.status_code == 422 and "nested too deeply" in deep.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("path", "field", "role"),
    [
        ("/admin/jobs/quick/pause", "reason", "admin"),
        ("/admin/jobs/quick/resume", "reason", "admin"),
        (f"/admin/runs/{uuid.uuid4()}/abort", "reason", "operator"),
        ("/admin/login", "username", "none"),
        ("/admin/login", "password", "none"),
    ],
)
async def test_text_fields_refuse_nul_and_lone_surrogates(
    served: Served, path: str, field: str, role: str
) -> None:
    headers = _headers(served, role, **{"content-type": "application/json"})
    # pydantic refuses some lone surrogates itself ("unicode"), our check the others: 422 either way.
    for text, faults in (("a\x00b", ("NUL",)), ("a\ud800", ("lone surrogate", "unicode"))):
        body = {"username": "alice", "password": "x"} if path == "/admin/login" else {}
        body[field] = text
        response = await served.http.post(path, content=_raw_json(body), headers=headers)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", field] and any(f in error["msg"] for f in faults), error


async def test_query_parameters_refuse_nul(served: Served) -> None:
    for name in ("job", "triggered_by", "cursor"):
        viewer = served.auth("viewer")
        response = await served.http.get("/admin/runs", params={name: "a\x00b"}, headers=viewer)
        assert response.status_code == 422, response.text
        assert ["query", name] in [error["loc"] for error in response.json()["detail"]]


async def test_moments_with_no_utc_equivalent_are_422(served_on: Served) -> None:
    # Valid ISO 8601 with an offset, but before year 1 or after 9999 once converted to UTC.
    viewer = served_on.auth("viewer")
    for name, value in (("since", "0001-01-01T00:00:00+14:00"), ("until", "9999-12-31T23:59:59-14:00")):
        response = await served_on.http.get("/admin/runs", params={name: value}, headers=viewer)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", name] and "out of range" in error["msg"], error


async def test_paths_no_file_system_accepts_are_not_server_errors(served: Served) -> None:
    # The UI's catch-all looks paths up in its build: a NUL byte or a too-long name is no file there.
    for path, expected in (
        ("/runs%00x", 200),  # a UI route: index.html
        ("/" + "r" * 5000, 200),
        ("/assets/app%00.js", 404),
        ("/assets/" + "a" * 5000 + ".js", 404),
    ):
        assert (await served.http.get(path)).status_code == expected, path


async def test_a_content_length_that_is_not_a_number_is_400(served: Served) -> None:
    response = await served.http.post(
        "/admin/login", content=b"{}", headers={"content-type": "application/json", "content-length": "2x"}
    )
    assert response.status_code == 400 and "Content-Length" in response.json()["detail"]


async def test_routes_without_a_body_ignore_one(served: Served) -> None:
    junk: dict[str, Any] = {"content": b"\xff\xfe", "headers": served.auth("admin")}
    assert (await served.http.request("GET", "/admin/jobs", **junk)).status_code == 200
    assert (await served.http.request("GET", "/health", **junk)).status_code == 200
    retry = await served.http.request("POST", f"/admin/runs/{uuid.uuid4()}/retry", **junk)
    assert retry.status_code == 404


@pytest.mark.parametrize(
    ("params", "param", "fault"),
    [
        ({"text": "a\x00b"}, "text", "NUL character"),
        ({"text": "a\ud800b"}, "text", "lone surrogate (\\ud800)"),
        ({"tags": ["ok", {"deep": ["x\x00"]}]}, "tags", "NUL character (\\x00) at tags[1].deep[0]"),
        ({"extra": {"k\x00": 1}}, "extra", "at the key 'k\\x00' of extra"),
        ({"extra": {"ratio": float("nan")}}, "extra", "not finite (nan) at extra.ratio"),
        ({"t\x00": "x"}, "t\\x00", "param name 't\\x00'"),
    ],
)
async def test_params_the_store_cannot_hold_are_422_naming_the_param_and_the_engine_serves_on(
    served_on: Served, params: dict[str, Any], param: str, fault: str
) -> None:
    served = served_on
    response = await served.http.post(
        "/admin/jobs/echo/run",
        content=_raw_json({"params": params}),
        headers={**served.auth("operator"), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][:2] == ["body", "params"] and error["type"] == "param_error", error
    assert f"'{param}'" in error["msg"] and fault in error["msg"], error
    assert (await served.http.get("/admin/runs", headers=served.auth("viewer"))).json()["runs"] == []

    # Nothing was stored, and the engine goes on: a good run of the same job succeeds.
    good = {"text": "a", "tags": [1, ["b"]], "extra": {"k": {"l": None}}}
    operator = served.auth("operator")
    run = await served.http.post("/admin/jobs/echo/run", json={"params": good}, headers=operator)
    assert run.status_code == 202, run.text
    done = await served.http.get(
        f"/admin/runs/{run.json()['run_id']}", params={"wait": 30}, headers=served.auth("viewer")
    )
    assert done.json()["status"] == "succeeded" and done.json()["steps"][0]["output"] == good
    assert (await served.http.get("/health")).json()["status"] == "ok"
