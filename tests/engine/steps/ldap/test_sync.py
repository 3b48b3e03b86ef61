"""The ldap_sync step against a real OpenLDAP (a throwaway slapd per module, see ldap_fixture.py), writing
into SQLite and PostgreSQL tables through the connector registry."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ldap3
import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.actors.ports import StepContext, StepLog
from nomaflow.actors.retry import RetryPolicy
from nomaflow.engine.steps.base import StepEnvironment
from nomaflow.engine.steps.ldap.sync import LdapSyncOptions, LdapSyncStep, render_filter
from nomaflow.engine.store import normalise_url
from tests.conftest import PgServer
from tests.engine.steps.ldap_fixture import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    READER_DN,
    READER_PASSWORD,
    SUFFIX,
    Slapd,
    base_ldif,
    people_ldif,
    person_ldif,
)

pytestmark = pytest.mark.anyio

BULK = 10_000


# --- the directory ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd for the module: ou=bulk holds 10,000 people (loaded offline with slapadd); tests that
    change entries work in an ou of their own."""
    slapd = Slapd(tmp_path_factory.mktemp("slapd"))
    slapd.load([*base_ldif(), *people_ldif("bulk", BULK)])
    slapd.start()
    try:
        yield slapd
    finally:
        slapd.stop()


class Admin:
    """Directory changes made the way an administrator would, over LDAP."""

    def __init__(self, slapd: Slapd) -> None:
        server = ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE)
        self.connection = ldap3.Connection(
            server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True
        )

    def add_ldif(self, record: str) -> None:
        dn, attributes = "", dict[str, list[str]]()
        for line in record.strip().splitlines():
            name, _, value = line.partition(": ")
            if name == "dn":
                dn = value
            else:
                attributes.setdefault(name, []).append(value)
        self.connection.add(dn, attributes=attributes)

    def new_ou(self, count: int) -> str:
        ou = f"t{uuid.uuid4().hex[:10]}"
        for record in people_ldif(ou, count):
            self.add_ldif(record)
        return f"ou={ou},{SUFFIX}"

    def close(self) -> None:
        self.connection.unbind()


@pytest.fixture
def admin(directory: Slapd) -> Iterator[Admin]:
    admin = Admin(directory)
    try:
        yield admin
    finally:
        admin.close()


# --- the target database ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def pg_target_url(pg_server: PgServer) -> AsyncIterator[str]:
    url = await pg_server.create_database()
    try:
        yield url
    finally:
        await pg_server.drop_database(url)


@dataclass
class TargetDb:
    kind: str
    url: str
    engine: AsyncEngine

    async def execute(self, sql: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(sql))

    async def rows(self, table: str, order: str = "uid") -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
            return [dict(row._mapping) for row in result]

    async def count(self, table: str) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())

    async def users_table(self, *, email_not_null: bool = False) -> str:
        table = f"users_{uuid.uuid4().hex[:8]}"
        email = "email TEXT NOT NULL" if email_not_null else "email TEXT"
        await self.execute(
            f"CREATE TABLE {table} (uid VARCHAR(64) PRIMARY KEY, {email}, full_name TEXT, phone TEXT,"
            " phones TEXT, employee INTEGER, dn TEXT, gone BOOLEAN)"
        )
        return table


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, URL) of the database the step writes to: a new SQLite file, or this module's PostgreSQL
    database (asked for lazily, so SQLite runs never need PostgreSQL)."""
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'target.db'}"
    url: str = request.getfixturevalue("pg_target_url")
    return "postgresql", url


@pytest.fixture
async def target(target_url: tuple[str, str]) -> AsyncIterator[TargetDb]:
    kind, url = target_url
    engine = create_async_engine(normalise_url(url))
    try:
        yield TargetDb(kind, url, engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def step(target: TargetDb, tmp_path: Path) -> AsyncIterator[LdapSyncStep]:
    env = StepEnvironment(root=tmp_path, settings={"connectors": {"users": {"url": target.url}}})
    sync = LdapSyncStep(env)
    try:
        yield sync
    finally:
        await sync.aclose()


# --- helpers ----------------------------------------------------------------------------------------


def context(
    *, dry_run: bool = False, on_log: Callable[[str], None] | None = None
) -> tuple[StepContext, list[str]]:
    lines: list[str] = []

    def emit(level: str, message: str, fields: dict[str, Any] | None) -> None:
        lines.append(message)
        if on_log is not None:
            on_log(message)

    ctx = StepContext(
        run_id="run-1",
        job="mirror",
        step="sync",
        attempt=1,
        params={},
        dry_run=dry_run,
        outputs={},
        previous_output=None,
        log=StepLog(emit),
        cancel_flag=threading.Event(),
        now=lambda: datetime.now(UTC),
    )
    return ctx, lines


def options(slapd: Slapd, base_dn: str, table: str, **overrides: Any) -> LdapSyncOptions:
    raw: dict[str, Any] = {
        "server": slapd.url,
        "bind_dn": READER_DN,
        "bind_password": READER_PASSWORD,
        "base_dn": base_dn,
        "filter": "(objectClass=inetOrgPerson)",
        "attributes": {"uid": "uid", "mail": "email", "cn": "full_name"},
        "connector": "users",
        "table": table,
        "key": "uid",
        **overrides,
    }
    return msgspec.convert(raw, LdapSyncOptions)


async def sync(step: LdapSyncStep, opts: LdapSyncOptions, **ctx_options: Any) -> dict[str, int]:
    assert step.check(opts) == []
    ctx, _ = context(**ctx_options)
    result: dict[str, int] = await step.run(ctx, opts)
    return result


def counts(
    seen: int = 0, inserted: int = 0, updated: int = 0, unchanged: int = 0, deleted: int = 0, flagged: int = 0
) -> dict[str, int]:
    return {
        "seen": seen,
        "inserted": inserted,
        "updated": updated,
        "unchanged": unchanged,
        "deleted": deleted,
        "flagged": flagged,
    }


# --- behaviour --------------------------------------------------------------------------------------


async def test_10000_entries_are_synced_with_paging_and_a_second_sync_changes_nothing(
    directory: Slapd, target: TargetDb, step: LdapSyncStep
) -> None:
    table = await target.users_table()
    opts = options(directory, f"ou=bulk,{SUFFIX}", table, page_size=1000)
    ctx, lines = context()
    assert await step.run(ctx, opts) == counts(seen=BULK, inserted=BULK)
    # The reader may only get 1,000 entries per search (see ldap_fixture): all 10,000 came through paging.
    assert len([line for line in lines if line.startswith("page ")]) == BULK // 1000
    assert await target.count(table) == BULK
    rows = await target.rows(table)
    assert rows[41] | {"gone": None} == {
        "uid": "u000042",
        "email": "u000042@example.org",
        "full_name": "Person 42",
        "phone": None,
        "phones": None,
        "employee": None,
        "dn": None,
        "gone": None,
    }

    assert await sync(step, opts) == counts(seen=BULK, unchanged=BULK)
    assert await target.count(table) == BULK


async def test_a_page_larger_than_the_server_allows_is_a_clear_error(
    directory: Slapd, target: TargetDb, step: LdapSyncStep
) -> None:
    table = await target.users_table()
    opts = options(directory, f"ou=bulk,{SUFFIX}", table, page_size=5000)
    with pytest.raises(
        PermanentStepFailure, match=r"step 'sync': filter: the search failed: adminLimitExceeded"
    ):
        await sync(step, opts)


@pytest.mark.parametrize("on_missing", ["keep", "delete", "flag"])
async def test_renamed_removed_and_added_entries(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep, on_missing: str
) -> None:
    base = admin.new_ou(5)  # u000001 .. u000005
    table = await target.users_table()
    extra = {"flag_column": "gone"} if on_missing == "flag" else {}
    opts = options(directory, base, table, on_missing=on_missing, **extra)
    assert await sync(step, opts) == counts(seen=5, inserted=5)

    admin.connection.modify_dn(f"uid=u000001,{base}", "uid=u000001-renamed")  # renamed: a new key
    admin.connection.delete(f"uid=u000002,{base}")  # removed
    admin.add_ldif(person_ldif(base.split(",")[0][3:], 6))  # added
    admin.connection.modify(f"uid=u000003,{base}", {"mail": [(ldap3.MODIFY_REPLACE, ["new@example.org"])]})

    missing = {"deleted": 2} if on_missing == "delete" else {"flagged": 2} if on_missing == "flag" else {}
    assert await sync(step, opts) == counts(seen=5, inserted=2, updated=1, unchanged=2, **missing)
    rows = {row["uid"]: row for row in await target.rows(table)}
    expected_uids = {"u000001-renamed", "u000003", "u000004", "u000005", "u000006"}
    if on_missing != "delete":
        expected_uids |= {"u000001", "u000002"}
    assert set(rows) == expected_uids
    assert rows["u000003"]["email"] == "new@example.org"
    if on_missing == "flag":
        assert {uid for uid, row in rows.items() if row["gone"]} == {"u000001", "u000002"}
        assert rows["u000003"]["gone"] in (False, 0)
        assert rows["u000006"]["gone"] in (False, 0)

    # Once applied, the same directory changes nothing, and gone rows are not counted twice.
    assert await sync(step, opts) == counts(seen=5, unchanged=5)

    if on_missing == "flag":
        # An entry that comes back is unflagged: an update.
        admin.add_ldif(person_ldif(base.split(",")[0][3:], 2))
        assert await sync(step, opts) == counts(seen=6, updated=1, unchanged=5)
        rows = {row["uid"]: row for row in await target.rows(table)}
        assert rows["u000002"]["gone"] in (False, 0)


async def test_a_rename_keyed_on_entry_uuid_is_an_update(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(3)
    table = f"people_{uuid.uuid4().hex[:8]}"
    id_type = "UUID" if target.kind == "postgresql" else "TEXT"
    created_type = "TIMESTAMP WITH TIME ZONE" if target.kind == "postgresql" else "TIMESTAMPTZ"
    await target.execute(
        f"CREATE TABLE {table} (id {id_type} PRIMARY KEY, dn TEXT, uid TEXT, employee INTEGER,"
        f" created {created_type})"
    )
    attributes = {
        "entryUUID": "id",
        "dn": "dn",
        "uid": "uid",
        "employeeNumber": "employee",
        "createTimestamp": "created",
    }
    opts = options(directory, base, table, key="id", on_missing="delete", attributes=attributes)
    assert await sync(step, opts) == counts(seen=3, inserted=3)
    admin.connection.modify_dn(f"uid=u000001,{base}", "uid=alice")
    assert await sync(step, opts) == counts(seen=3, updated=1, unchanged=2)
    rows = {row["uid"]: row for row in await target.rows(table, order="uid")}
    assert rows["alice"]["dn"] == f"uid=alice,{base}"
    assert rows["alice"]["employee"] == 1
    if target.kind == "postgresql":
        assert isinstance(rows["alice"]["id"], uuid.UUID)
        assert isinstance(rows["alice"]["created"], datetime) and rows["alice"]["created"].tzinfo is not None


async def test_multi_valued_attributes_keep_the_first_or_join(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(2)
    table = await target.users_table()
    attributes = {
        "uid": "uid",
        "telephoneNumber": {"column": "phone"},
        "telephonenumber": {"column": "phones", "multi": "join", "separator": " | "},
    }
    assert await sync(step, options(directory, base, table, attributes=attributes)) == counts(
        seen=2, inserted=2
    )
    row = (await target.rows(table))[0]
    assert row["phone"] == "+33 1 00 000001"
    assert row["phones"] == "+33 1 00 000001 | +33 6 00 000001"


async def test_a_filter_value_cannot_change_the_filter(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(3)
    table = await target.users_table()
    injection = "*)(uid=*))(|(uid=*"
    assert render_filter("(uid={user})", {"user": injection}) == r"(uid=\2a\29\28uid=\2a\29\29\28|\28uid=\2a)"

    def by_user(user: str) -> LdapSyncOptions:
        return options(
            directory,
            base,
            table,
            filter="(&(objectClass=inetOrgPerson)(uid={user}))",
            filter_values={"user": user},
        )

    assert await sync(step, by_user(injection)) == counts()
    assert await target.count(table) == 0
    assert await sync(step, by_user("u000002")) == counts(seen=1, inserted=1)


async def test_a_wrong_bind_password_is_a_clear_permanent_error(
    directory: Slapd, target: TargetDb, step: LdapSyncStep
) -> None:
    table = await target.users_table()
    opts = options(directory, f"ou=bulk,{SUFFIX}", table, bind_password="not-the-password")
    with pytest.raises(PermanentStepFailure) as caught:
        await sync(step, opts)
    assert str(caught.value) == (
        f"step 'sync': bind_password: {directory.url} refused to bind as '{READER_DN}': "
        "invalid credentials (wrong bind_dn or bind_password)"
    )
    assert "not-the-password" not in str(caught.value)
    assert caught.value.retryable is False


async def test_a_dry_run_counts_without_writing(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(4)
    table = await target.users_table()
    opts = options(directory, base, table, on_missing="delete")
    assert await sync(step, opts, dry_run=True) == counts(seen=4, inserted=4)
    assert await target.count(table) == 0
    assert await sync(step, opts) == counts(seen=4, inserted=4)
    admin.connection.delete(f"uid=u000004,{base}")
    admin.connection.modify(f"uid=u000001,{base}", {"cn": [(ldap3.MODIFY_REPLACE, ["Renamed Person"])]})
    assert await sync(step, opts, dry_run=True) == counts(seen=3, updated=1, unchanged=2, deleted=1)
    assert await target.count(table) == 4
    assert (await target.rows(table))[0]["full_name"] == "Person 1"


async def test_the_write_is_all_or_nothing(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(3)
    table = await target.users_table(email_not_null=True)
    opts = options(directory, base, table, on_missing="delete")
    assert await sync(step, opts) == counts(seen=3, inserted=3)
    before = await target.rows(table)
    # One update, one delete, and one insert the table refuses (an entry with no mail: NOT NULL).
    admin.connection.modify(
        f"uid=u000001,{base}", {"mail": [(ldap3.MODIFY_REPLACE, ["changed@example.org"])]}
    )
    admin.connection.delete(f"uid=u000002,{base}")
    admin.connection.add(
        f"uid=nomail,{base}",
        attributes={"objectClass": ["inetOrgPerson"], "uid": ["nomail"], "cn": ["x"], "sn": ["x"]},
    )
    with pytest.raises(
        PermanentStepFailure, match=rf"step 'sync': connector 'users': writing to table '{table}' failed"
    ):
        await sync(step, opts)
    assert await target.rows(table) == before


async def test_an_empty_result_does_not_wipe_the_table_unless_allowed(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(2)
    table = await target.users_table()
    assert await sync(step, options(directory, base, table, on_missing="delete")) == counts(
        seen=2, inserted=2
    )
    nothing = "(&(objectClass=inetOrgPerson)(uid=nobody))"
    with pytest.raises(
        PermanentStepFailure, match="the search found no entries, so all 2 rows would be deleted"
    ):
        await sync(step, options(directory, base, table, on_missing="delete", filter=nothing))
    assert await target.count(table) == 2
    opts = options(directory, base, table, on_missing="delete", filter=nothing, allow_empty=True)
    assert await sync(step, opts) == counts(deleted=2)
    assert await target.count(table) == 0


async def test_run_time_problems_name_the_step_and_the_field(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(1)
    table = await target.users_table()
    admin.connection.modify(f"uid=u000001,{base}", {"employeeNumber": [(ldap3.MODIFY_REPLACE, ["E-17"])]})
    cases: list[tuple[LdapSyncOptions, type[Exception], str]] = [
        (
            options(directory, base, "no_such_table"),
            PermanentStepFailure,
            "step 'sync': table: there is no table 'no_such_table' (connector 'users')",
        ),
        (
            options(directory, base, table, attributes={"uid": "uid", "mail": "mail_address"}),
            PermanentStepFailure,
            f"step 'sync': attributes.mail: table '{table}' has no column 'mail_address'",
        ),
        (
            options(directory, base, table, attributes={"uid": "uid", "employeeNumber": "employee"}),
            PermanentStepFailure,
            f"step 'sync': attributes.employeeNumber: entry 'uid=u000001,{base}' has 'E-17', "
            "which column 'employee'",
        ),
        (
            options(directory, f"ou=nowhere,{SUFFIX}", table),
            PermanentStepFailure,
            f"step 'sync': base_dn: there is no entry 'ou=nowhere,{SUFFIX}'",
        ),
        (
            options(directory, base, table, attributes={"uid": "uid", "description": "email"}, key="email"),
            PermanentStepFailure,
            f"step 'sync': key: entry 'uid=u000001,{base}' has no value for the key column 'email'",
        ),
    ]
    for opts, error, message in cases:
        with pytest.raises(error) as caught:
            await sync(step, opts)
        assert str(caught.value).startswith(message), str(caught.value)


def test_bad_options_are_reported_at_load_time(tmp_path: Path) -> None:
    step = LdapSyncStep(
        StepEnvironment(root=tmp_path, settings={"connectors": {"users": {"url": "sqlite:///x.db"}}})
    )
    good: dict[str, Any] = {
        "server": "ldap://ldap.example.org",
        "base_dn": SUFFIX,
        "attributes": {"uid": "uid", "mail": "email"},
        "connector": "users",
        "table": "users",
        "key": "uid",
    }
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"server": "http://ldap.example.org"},
            "server",
            "expected ldap://host[:port] or ldaps://host[:port]",
        ),
        (
            {"server": "ldaps://ldap.example.org", "start_tls": True},
            "start_tls",
            "ldaps:// is already encrypted",
        ),
        ({"key": "id"}, "key", "'id' is not one of the mapped columns (uid, email)"),
        ({"on_missing": "flag"}, "flag_column", 'on_missing = "flag" needs flag_column'),
        ({"flag_column": "gone"}, "flag_column", 'is only used with on_missing = "flag"'),
        ({"filter": "(uid=${params.user})"}, "filter", "templates are not allowed in a filter"),
        ({"filter": "(uid={user})"}, "filter", "{user} has no value in filter_values"),
        ({"filter_values": {"user": "x"}}, "filter_values.user", "the filter has no {user} placeholder"),
        ({"filter": "(uid=x"}, "filter", "is not a valid LDAP filter"),
        ({"connector": "usrs"}, "connector", "no connector named 'usrs' (did you mean \"users\"?)"),
        ({"page_size": 0}, "page_size", "expected a number of entries >= 1"),
        ({"attributes": {}}, "attributes", "map at least one LDAP attribute"),
        (
            {"attributes": {"uid": "uid", "mail": "UID"}},
            "attributes.mail",
            "column 'UID' is already mapped from 'uid'",
        ),
        ({"table": "${params.table}"}, "table", "may not be templated"),
    ]
    assert step.check(msgspec.convert(good, LdapSyncOptions)) == []
    for change, field, message in cases:
        problems = step.check(msgspec.convert(good | change, LdapSyncOptions))
        assert any(where == field and message in text for where, text in problems), (change, problems)


def test_the_bind_password_is_redacted() -> None:
    step = LdapSyncStep(StepEnvironment(root=Path()))
    assert step.redact({"bind_password": "s3cret", "bind_dn": "cn=x"}) == {
        "bind_password": "***",
        "bind_dn": "cn=x",
    }


# --- slapd going away -------------------------------------------------------------------------------


@pytest.fixture
def own_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A slapd of the test's own, free to stop and restart."""
    slapd = Slapd(tmp_path / "own-slapd")
    slapd.load([*base_ldif(), *people_ldif("people", 3000)])
    slapd.start()
    try:
        yield slapd
    finally:
        slapd.stop()


async def test_slapd_stopped_mid_run_fails_retryably_and_writes_nothing(
    own_slapd: Slapd, target: TargetDb, step: LdapSyncStep
) -> None:
    table = await target.users_table()
    opts = options(own_slapd, f"ou=people,{SUFFIX}", table, page_size=500)

    def stop_after_first_page(line: str) -> None:
        # Called from the worker thread between two pages: the next page request finds slapd gone.
        if line.startswith("page 1:"):
            own_slapd.kill()

    ctx, lines = context(on_log=stop_after_first_page)
    with pytest.raises(StepFailure) as caught:
        await step.run(ctx, opts)
    failure = caught.value
    assert failure.retryable is True
    assert f"step 'sync': server: lost or could not reach {own_slapd.url}" in str(failure)
    assert [line for line in lines if line.startswith("page ")] == ["page 1: 500 entries so far"]
    assert await target.count(table) == 0  # the first page was never written

    # The retry policy decides as for any retryable failure...
    policy = RetryPolicy(max_attempts=3, initial_delay_seconds=5)
    decision = policy.decide(1, retryable=failure.retryable, retry_after=failure.retry_after)
    assert decision.retry and decision.delay_seconds == 5
    # ...and with slapd back, the next attempt does the whole sync.
    own_slapd.start()
    assert await sync(step, opts) == counts(seen=3000, inserted=3000)


async def test_slapd_down_is_a_retryable_failure(
    own_slapd: Slapd, target: TargetDb, step: LdapSyncStep
) -> None:
    table = await target.users_table()
    own_slapd.stop()
    with pytest.raises(StepFailure) as caught:
        await sync(step, options(own_slapd, f"ou=people,{SUFFIX}", table))
    assert caught.value.retryable is True
    assert "could not reach" in str(caught.value)


async def test_binary_attributes_go_into_binary_columns(
    directory: Slapd, admin: Admin, target: TargetDb, step: LdapSyncStep
) -> None:
    base = admin.new_ou(1)
    photo = bytes(range(256)) * 4  # not UTF-8: it must arrive byte for byte
    admin.connection.modify(f"uid=u000001,{base}", {"jpegPhoto": [(ldap3.MODIFY_REPLACE, [photo])]})
    table = f"photos_{uuid.uuid4().hex[:8]}"
    blob = "BYTEA" if target.kind == "postgresql" else "BLOB"
    await target.execute(f"CREATE TABLE {table} (uid TEXT PRIMARY KEY, photo {blob})")
    opts = options(directory, base, table, attributes={"uid": "uid", "jpegPhoto": "photo"})
    assert await sync(step, opts) == counts(seen=1, inserted=1)
    assert bytes((await target.rows(table))[0]["photo"]) == photo
    assert await sync(step, opts) == counts(seen=1, unchanged=1)
    # The same bytes cannot go into a text column.
    opts = options(
        directory, base, await target.users_table(), attributes={"uid": "uid", "jpegPhoto": "email"}
    )
    with pytest.raises(
        PermanentStepFailure, match="has a binary value, which text column 'email' cannot take"
    ):
        await sync(step, opts)
