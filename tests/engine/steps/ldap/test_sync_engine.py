"""ldap_sync as a job step through the Engine: templated filter values and secrets, the run history, dry
runs, and the retry policy when slapd is down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from nomaflow.actors.events import StepRetrying
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.config.problems import ConfigError
from nomaflow.engine.store import create_engine, normalise_url
from nomaflow.engine.store.tables import job_logs, job_runs, step_runs
from tests.engine.steps.ldap_fixture import READER_DN, READER_PASSWORD, SUFFIX, Slapd, base_ldif, people_ldif

pytestmark = pytest.mark.anyio

PEOPLE = 20


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    server = Slapd(tmp_path / "slapd")
    server.load([*base_ldif(), *people_ldif("people", PEOPLE)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def install(tmp_path: Path, slapd: Slapd, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An install whose `users` connector is a SQLite file holding an empty `users` table."""
    target = tmp_path / "users.db"
    database = create_async_engine(normalise_url(f"sqlite:///{target}"))
    try:
        async with database.begin() as connection:
            await connection.execute(text("CREATE TABLE users (uid TEXT PRIMARY KEY, email TEXT, name TEXT)"))
    finally:
        await database.dispose()
    # The engine's heartbeat is pushed far away so that, on a manual clock, a step's backoff is the next
    # thing due; and shutdown does not wait on the clock.
    quiet = "[jobs]\nheartbeat_seconds = 3600\ninterrupted_after_seconds = 7200\nshutdown_grace_seconds = 0\n"
    app = f'{quiet}[connectors.users]\nurl = "sqlite:///{target}"\n'
    (tmp_path / "app.toml").write_text(app, encoding="utf-8")
    monkeypatch.setenv("NOMAFLOW_TEST_LDAP_PASSWORD", READER_PASSWORD)
    return tmp_path / "app.toml"


def sync_step(slapd: Slapd, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "mirror",
        "type": "ldap_sync",
        "server": slapd.url,
        "bind_dn": READER_DN,
        "bind_password": "${env.NOMAFLOW_TEST_LDAP_PASSWORD}",
        "base_dn": f"ou=people,{SUFFIX}",
        # Values are matched literally (escaped); a wildcard belongs in the filter itself.
        "filter": "(&(objectClass=inetOrgPerson)(uid={prefix}*))",
        "filter_values": {"prefix": "${params.prefix}"},
        "attributes": {"uid": "uid", "mail": "email", "cn": "name"},
        "connector": "users",
        "table": "users",
        "key": "uid",
        "page_size": 7,
        **overrides,
    }


async def users(app: Path) -> int:
    database = create_async_engine(normalise_url(f"sqlite:///{app.parent / 'users.db'}"))
    try:
        async with database.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM users"))).scalar_one())
    finally:
        await database.dispose()


async def test_a_job_mirrors_the_directory_and_stores_no_secret(
    install: Path, slapd: Slapd, database_url: str
) -> None:
    async with Engine.from_path(install, database_url=database_url, scheduler=False) as engine:
        engine.define_job(name="mirror", params={"prefix": "u"}, steps=[sync_step(slapd)])
        # A param full of filter syntax is one escaped value: it matches nothing.
        outcome = await (await engine.trigger("mirror", params={"prefix": "*)(uid=*))(|(uid=*"})).wait()
        assert outcome.succeeded, outcome
        assert outcome.step("mirror").output["seen"] == 0
        outcome = await (await engine.trigger("mirror", params={"prefix": "u00001"}, dry_run=True)).wait()
        assert outcome.step("mirror").output == {
            "seen": 10,  # u000010 .. u000019
            "inserted": 10,
            "updated": 0,
            "unchanged": 0,
            "deleted": 0,
            "flagged": 0,
        }
        assert await users(install) == 0
        outcome = await (await engine.trigger("mirror", params={"prefix": "u00001"})).wait()
        assert outcome.step("mirror").output["inserted"] == 10
        stored = await engine.store.get_steps(outcome.run_id)
    assert await users(install) == 10
    assert stored[0].input is not None and stored[0].output is not None
    assert stored[0].input["bind_password"] == "***"
    assert stored[0].input["filter_values"] == {"prefix": "u00001"}
    assert stored[0].output["inserted"] == 10

    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            rows = [
                row
                for table in (job_runs, step_runs, job_logs)
                for row in await connection.execute(select(table))
            ]
    finally:
        await database.dispose()
    dump = "\n".join(repr(tuple(row)) for row in rows)
    assert "page 2: 10 entries so far" in dump  # the log lines are there...
    assert READER_PASSWORD not in dump  # ...and the password is not


async def test_slapd_down_follows_the_retry_policy(install: Path, slapd: Slapd, database_url: str) -> None:
    clock = ManualClock()
    policy = {"max_attempts": 3, "initial_delay_seconds": 30}
    async with Engine.from_path(install, database_url=database_url, scheduler=False, clock=clock) as engine:
        engine.define_job(name="mirror", params={"prefix": "u"}, retry=policy, steps=[sync_step(slapd)])
        slapd.stop()
        run = await engine.trigger("mirror")
        with anyio.fail_after(30):
            async for event in run.events():
                if isinstance(event, StepRetrying):
                    assert event.attempt == 1
                    assert event.delay_seconds == 30
                    assert "could not reach" in event.error
                    break
            slapd.start()  # back before the second attempt
            due = clock.now() + timedelta(seconds=30)
            while clock.next_deadline() != due:
                await clock.wait_for_sleepers(clock.sleepers + 1)
            clock.advance(30)
            outcome = await run.wait()
    assert outcome.succeeded, outcome
    assert outcome.step("mirror").attempts == 2
    assert outcome.step("mirror").output["inserted"] == PEOPLE
    assert await users(install) == PEOPLE


async def test_load_time_problems_name_the_step_field(install: Path, slapd: Slapd, database_url: str) -> None:
    engine = Engine.from_path(install, database_url=database_url, scheduler=False)
    bad = sync_step(slapd, filter="(uid=${params.prefix})", filter_values={}, key="id")
    with pytest.raises(ConfigError) as caught:
        engine.define_job(name=f"bad-{uuid.uuid4().hex[:6]}", params={"prefix": "x"}, steps=[bad])
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert "templates are not allowed in a filter" in problems["steps[0].filter"]
    assert "'id' is not one of the mapped columns" in problems["steps[0].key"]


async def test_a_step_of_its_own_dry_run_counts_and_writes_nothing(
    install: Path, slapd: Slapd, database_url: str
) -> None:
    before = [("gone", "gone@example.org", "Gone"), ("u000010", "old@example.org", "Old Name")]
    database = create_async_engine(normalise_url(f"sqlite:///{install.parent / 'users.db'}"))
    try:
        async with database.begin() as connection:
            await connection.execute(
                text("INSERT INTO users VALUES (:uid, :email, :name)"),
                [dict(zip(("uid", "email", "name"), row, strict=True)) for row in before],
            )
        async with Engine.from_path(install, database_url=database_url, scheduler=False) as engine:
            step = sync_step(slapd, dry_run=True, on_missing="delete")
            engine.define_job(name="mirror", params={"prefix": "u"}, steps=[step])
            run = await engine.trigger("mirror", params={"prefix": "u00001"})
            outcome = await run.wait()
            assert outcome.succeeded, outcome
            assert outcome.step("mirror").dry_run is True
            assert outcome.step("mirror").output == {
                "seen": 10,
                "inserted": 9,
                "updated": 1,
                "unchanged": 0,
                "deleted": 1,
                "flagged": 0,
            }
            assert [row.dry_run for row in await engine.store.get_steps(run.run_id)] == [True]
            logs = [row.message for row in await engine.store.get_logs(run.run_id)]
        assert (
            "dry run, nothing written: seen 10, inserted 9, updated 1, unchanged 0, deleted 1, flagged 0"
            in logs
        )
        async with database.connect() as connection:
            after = [tuple(row) for row in await connection.execute(text("SELECT * FROM users ORDER BY uid"))]
        assert after == before
    finally:
        await database.dispose()
