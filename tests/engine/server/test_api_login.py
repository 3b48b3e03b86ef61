"""POST /admin/login under guessing, in-process on the injected clock: 429 with Retry-After past the
free attempts, the same for unknown users as for known ones, refused before any hashing; the address
limit spans usernames; password checks past the queue are turned away at once."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from nomaflow.engine.clock import ManualClock
from nomaflow.engine.config import load_install
from nomaflow.engine.server.auth.password_checks import PasswordChecks
from nomaflow.engine.server.auth.tokens import Role, Tokens
from tests.engine.conftest import quiet_install
from tests.engine.server.conftest import ENVIRON, INSTALL, Served, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[tuple[Served, ManualClock]]:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    # Heartbeats an hour apart: moving the clock here is for the login limits only.
    install = quiet_install(load_install(INSTALL))
    async with serve(
        f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}", install=install, clock=clock
    ) as served:
        yield served, clock


@pytest.fixture
def hashed(clocked: tuple[Served, ManualClock], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames whose password was hashed, in order."""
    tokens = clocked[0].host.tokens
    check = tokens.check_password
    seen: list[str] = []

    def counted(username: str, password: str) -> Role | None:
        seen.append(username)
        return check(username, password)

    monkeypatch.setattr(tokens, "check_password", counted)
    return seen


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/admin/login", json={"username": username, "password": password})


def answer(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, response.headers.get("retry-after")


async def test_known_and_unknown_users_are_throttled_alike_before_any_hashing(
    clocked: tuple[Served, ManualClock], hashed: list[str]
) -> None:
    served, clock = clocked
    answers: dict[str, list[tuple[int, str | None]]] = {}
    for username in ("alice", "nobody"):
        answers[username] = [answer(await login(served.http, username, "wrong")) for _ in range(7)]
    assert answers["alice"] == answers["nobody"] == [(401, None)] * 5 + [(429, "1")] * 2
    assert hashed == ["alice"] * 5 + ["nobody"] * 5

    locked = await login(served.http, "alice", "alice-password")  # right, but locked: not even hashed
    assert answer(locked) == (429, "1") and len(hashed) == 10
    assert locked.json() == {"detail": "too many failed logins for this username: try again in 1 s"}

    clock.advance(1)
    assert (await login(served.http, "alice", "alice-password")).status_code == 200
    # The success cleared alice's count: five wrong passwords again before the next lockout.
    assert [answer(await login(served.http, "alice", "wrong")) for _ in range(6)][-2:] == [
        (401, None),
        (429, "1"),
    ]


async def test_each_failure_past_the_free_ones_doubles_the_wait(
    clocked: tuple[Served, ManualClock], hashed: list[str]
) -> None:
    served, clock = clocked
    for _ in range(5):
        await login(served.http, "victor", "wrong")
    waits = []
    for _ in range(4):
        refused = await login(served.http, "victor", "wrong")
        waits.append(int(refused.headers["retry-after"]))
        clock.advance(waits[-1])
        assert (await login(served.http, "victor", "wrong")).status_code == 401
    assert waits == [1, 2, 4, 8] and len(hashed) == 9


async def test_the_address_limit_spans_usernames_and_spares_other_addresses(
    clocked: tuple[Served, ManualClock], hashed: list[str]
) -> None:
    served, _ = clocked
    statuses = [(await login(served.http, f"guess-{n}", "wrong")).status_code for n in range(22)]
    assert statuses == [401] * 20 + [429] * 2 and len(hashed) == 20
    refused = await login(served.http, "alice", "alice-password")
    assert refused.status_code == 429 and "from this address" in refused.json()["detail"]
    elsewhere = httpx.ASGITransport(app=served.app, client=("192.0.2.9", 4000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://nomaflow") as other:
        assert (await login(other, "alice", "alice-password")).status_code == 200


async def test_password_checks_past_the_queue_are_turned_away_at_once(
    clocked: tuple[Served, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, _ = clocked
    served.host.password_checks = PasswordChecks(slots=1, queue=1)
    tokens = served.host.tokens
    check = tokens.check_password
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def held(username: str, password: str) -> Role | None:
        calls.append(username)
        started.set()
        release.wait(30)
        return check(username, password)

    monkeypatch.setattr(tokens, "check_password", held)
    results: dict[str, int] = {}

    async def attempt(username: str, password: str) -> None:
        results[username] = (await login(served.http, username, password)).status_code

    async with anyio.create_task_group() as group:
        group.start_soon(attempt, "alice", "alice-password")  # takes the one slot
        assert await anyio.to_thread.run_sync(started.wait, 30)
        group.start_soon(attempt, "olga", "wrong")  # waits in the queue
        with anyio.fail_after(10):
            while served.host.password_checks.admitted < 2:
                await anyio.lowlevel.checkpoint()
        turned_away = await login(served.http, "victor", "victor-password")
        assert answer(turned_away) == (429, "1") and calls == ["alice"]
        assert "being checked right now" in turned_away.json()["detail"]
        release.set()
    assert results == {"alice": 200, "olga": 401} and calls == ["alice", "olga"]
    # victor was turned away without a failure counted: he logs in at once.
    assert (await login(served.http, "victor", "victor-password")).status_code == 200


def test_an_unknown_user_costs_what_a_known_one_does() -> None:
    tokens = Tokens(load_install(INSTALL).settings.auth, ENVIRON)
    assert tokens.check_password("nobody", "x") is None
    dummy: Any = tokens._dummy_hash
    known = tokens.settings.users["alice"].password_hash
    # The same argon2 parameters (memory, time, parallelism), so the same time and memory.
    assert dummy.split("$")[:4] == known.split("$")[:4] == ["", "argon2id", "v=19", "m=1024,t=1,p=1"]
