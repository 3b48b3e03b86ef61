"""Nomaflow mounted in a host FastAPI app (engine/server/host.py `mount`), in-process: under the host's
prefix, guarded by the host's own sign-in, beside host routes that keep their own behaviour."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from starlette.requests import HTTPConnection

from nomaflow import Nomaflow, Principal, Role
from tests.engine.server.conftest import ENVIRON, INSTALL

pytestmark = pytest.mark.anyio

PREFIX = "/ops/jobs"
TWO_MB = b"x" * (2 * 1024 * 1024)
# The host's users, signed in by a cookie of its own; "mallory" is turned away by the host itself.
HOST_USERS = {"vic": Role.viewer, "olga": Role.operator}


def host_role(connection: HTTPConnection) -> Principal | None:
    name = connection.cookies.get("host_session", "")
    if name == "mallory":
        raise HTTPException(403, "mallory is banned from the operations pages")
    role = HOST_USERS.get(name)
    return Principal(name, role) if role is not None else None


@dataclass
class Hosted:
    app: FastAPI
    nomaflow: Nomaflow
    http: httpx.AsyncClient
    stages: list[str]

    def as_(self, user: str) -> dict[str, str]:
        return {"Cookie": f"host_session={user}"}


def host_app(stages: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stages.append("host up")
        yield
        stages.append("host down")

    app = FastAPI(title="Billing", lifespan=lifespan)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"service": "billing"}

    @app.post("/administration/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/ops/jobs-archive/upload")
    async def archive(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


@asynccontextmanager
async def hosted(tmp_path: Path, **mount: object) -> AsyncIterator[Hosted]:
    stages: list[str] = []
    app = host_app(stages)
    nomaflow = Nomaflow(
        INSTALL, environ=ENVIRON, database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}", scheduler=False
    )
    nomaflow.mount(app, PREFIX, **mount)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        stages.append(f"serving, engine running: {nomaflow._engine is not None}")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://billing") as http:
            yield Hosted(app, nomaflow, http, stages)


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Hosted]:
    async with hosted(tmp_path, auth=host_role) as running:
        yield running


async def test_host_routes_and_nomaflow_both_answer_nomaflow_only_under_the_prefix(host: Hosted) -> None:
    assert (await host.http.get("/")).json() == {"service": "billing"}
    health = await host.http.get(f"{PREFIX}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert (await host.http.get(f"{PREFIX}/metrics")).text.startswith("# HELP")
    for outside in ("/health", "/metrics", "/admin/jobs", "/socket.io/"):
        assert (await host.http.get(outside)).status_code == 404, outside
    own = (await host.http.get(f"{PREFIX}/openapi.json")).json()
    assert "/admin/jobs/{name}/run" in own["paths"]
    assert "/administration/upload" in (await host.http.get("/openapi.json")).json()["paths"]
    assert (await host.http.get(PREFIX, follow_redirects=False)).headers["location"].endswith(f"{PREFIX}/")


async def test_the_host_sign_in_decides_the_role(host: Hosted) -> None:
    nobody = await host.http.get(f"{PREFIX}/admin/jobs")
    assert nobody.status_code == 401
    assert nobody.json()["detail"] == "not signed in: the host application did not recognise this request"

    assert (await host.http.get(f"{PREFIX}/admin/jobs", headers=host.as_("vic"))).status_code == 200
    refused = await host.http.post(f"{PREFIX}/admin/jobs/quick/run", headers=host.as_("vic"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this needs the operator role; 'vic' has the viewer role"

    started = await host.http.post(f"{PREFIX}/admin/jobs/quick/run", headers=host.as_("olga"))
    assert started.status_code == 202 and started.json()["triggered_by"] == "user:olga"
    run = await host.http.get(
        f"{PREFIX}/admin/runs/{started.json()['run_id']}", params={"wait": 30}, headers=host.as_("vic")
    )
    assert run.json()["status"] == "succeeded"

    banned = await host.http.get(f"{PREFIX}/admin/jobs", headers=host.as_("mallory"))
    assert banned.status_code == 403
    assert banned.json()["detail"] == "mallory is banned from the operations pages"


async def test_the_ui_learns_who_the_host_signed_in(host: Hosted) -> None:
    signed_in = (await host.http.get(f"{PREFIX}/admin/session", headers=host.as_("olga"))).json()
    assert signed_in == {
        "signed_in": True,
        "subject": "olga",
        "role": "operator",
        "kind": "host",
        "reason": None,
        "password_sign_in": True,
        "host_sign_in": True,
    }
    nobody = await host.http.get(f"{PREFIX}/admin/session")
    assert nobody.status_code == 200 and nobody.json()["signed_in"] is False
    assert nobody.json()["reason"].startswith("not signed in")


async def test_nomaflow_tokens_still_work_when_the_host_does_not_know_the_caller(host: Hosted) -> None:
    now = datetime.now(UTC)
    token = host.nomaflow.tokens.issue("airflow", Role.operator, "service", timedelta(minutes=5), now)
    started = await host.http.post(
        f"{PREFIX}/admin/jobs/quick/run", headers={"Authorization": f"Bearer {token}"}
    )
    assert started.status_code == 202 and started.json()["triggered_by"] == "api"
    forged = await host.http.get(f"{PREFIX}/admin/jobs", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401 and forged.json()["detail"] == "invalid token"


async def test_the_body_limit_covers_nomaflow_paths_only(host: Hosted) -> None:
    for path in ("/administration/upload", "/ops/jobs-archive/upload"):
        answer = await host.http.post(path, content=TWO_MB)
        assert answer.status_code == 200 and answer.json() == {"bytes": len(TWO_MB)}, path
    limited = await host.http.post(f"{PREFIX}/admin/jobs/quick/run", content=TWO_MB, headers=host.as_("olga"))
    assert limited.status_code == 413
    assert limited.json()["detail"] == "the request body is larger than the 1048576 bytes this server accepts"


async def test_the_engine_runs_inside_the_hosts_lifespan(host: Hosted) -> None:
    assert host.stages == ["host up", "serving, engine running: True"]
    assert host.app.state.nomaflow is host.nomaflow.engine


async def test_without_host_auth_nomaflow_users_and_tokens_decide(tmp_path: Path) -> None:
    async with hosted(tmp_path) as host:
        assert (await host.http.get(f"{PREFIX}/admin/jobs", headers=host.as_("olga"))).status_code == 401
        session = (await host.http.get(f"{PREFIX}/admin/session")).json()
        assert session["signed_in"] is False and session["host_sign_in"] is False
    assert host.stages[-1] == "host down" and host.nomaflow._engine is None


async def test_an_auth_callable_answering_something_else_is_a_clear_server_error(tmp_path: Path) -> None:
    async with hosted(tmp_path, auth=lambda connection: "operator") as host:
        answer = await host.http.get(f"{PREFIX}/admin/jobs")
    assert answer.status_code == 500
    assert answer.json()["detail"] == (
        "the auth callable given to Nomaflow's mount() answered str: it must answer a nomaflow.Principal "
        "(who, with which role) or None (not signed in)"
    )


@pytest.mark.parametrize("prefix", ["", "/", "ops", "/ops/", "/ops//jobs", "/a/../b", "/ops/{job}", None])
def test_the_prefix_must_be_a_path_of_segments(prefix: object) -> None:
    nomaflow = Nomaflow(INSTALL, environ=ENVIRON)
    with pytest.raises(ValueError, match=r"the prefix must be a path of one or more segments .* not "):
        nomaflow.mount(FastAPI(), prefix)  # type: ignore[arg-type]


def test_one_nomaflow_object_serves_one_app() -> None:
    nomaflow = Nomaflow(INSTALL, environ=ENVIRON)
    nomaflow.mount(FastAPI(), PREFIX)
    with pytest.raises(RuntimeError, match="already serves an app"):
        nomaflow.mount(FastAPI(), PREFIX)


def test_a_principal_says_what_it_needs() -> None:
    with pytest.raises(TypeError, match=r"Role\.viewer, Role\.operator or Role\.admin, not 'admin'"):
        Principal("ada", "admin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="subject must be a non-empty string"):
        Principal("", Role.admin)


def test_an_option_nomaflow_does_not_take_is_refused_at_once() -> None:
    with pytest.raises(
        TypeError, match=r"unknown option\(s\) prefix \(the prefix is given to mount\(app, prefix\)"
    ):
        Nomaflow(INSTALL, environ=ENVIRON, prefix="/jobs")


async def _socketio_handshake(host: Hosted, headers: dict[str, str]) -> str:
    """Engine.IO's polling handshake, then a Socket.IO CONNECT: the server's answer to the CONNECT."""
    path = f"{PREFIX}/socket.io/"
    opened = await host.http.get(path, params={"EIO": "4", "transport": "polling"}, headers=headers)
    assert opened.text.startswith("0"), opened.text  # Engine.IO OPEN
    sid = json.loads(opened.text[1:])["sid"]
    session = {"EIO": "4", "transport": "polling", "sid": sid}
    assert (await host.http.post(path, params=session, content="40", headers=headers)).text == "OK"
    return (await host.http.get(path, params=session, headers=headers)).text


async def test_a_socketio_handshake_is_decided_by_the_host_sign_in(host: Hosted) -> None:
    assert (await _socketio_handshake(host, host.as_("vic"))).startswith('40{"sid":')  # connected
    for user, status, detail in [
        (None, 401, "not signed in: the host application did not recognise this request"),
        ("mallory", 403, "mallory is banned from the operations pages"),
    ]:
        answer = await _socketio_handshake(host, host.as_(user) if user else {})
        assert answer.startswith("44"), answer  # CONNECT_ERROR
        assert json.loads(answer[2:]) == {
            "message": f"Socket.IO connection not authorized: {detail}",
            "data": {"status": status, "detail": detail},
        }
