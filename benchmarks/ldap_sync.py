"""Benchmark of the ldap_sync step: a directory of N people (default 50,000) mirrored into PostgreSQL,
against a hand-written baseline measured in the same run: an ldap3 paged search feeding one asyncpg
`executemany` INSERT (what an install would script by hand, with none of the step's comparison).

    .venv/bin/python benchmarks/ldap_sync.py [--entries 50000] [--page-size 1000] [--repeat 3]

It starts its own slapd (Debian's OpenLDAP; scripts/setup.sh installs it) on a free port, loads the
entries offline with slapadd, and writes to a database it creates on the PostgreSQL server at
NOMAFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/test), dropped at the end. Both sides
bind as the same ordinary account, page the same way and write the same five columns into an empty
table; each round runs both, alternating which goes first, and the medians are compared. A second
figure times the step's re-sync of an unchanged directory (read, compare, write nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import ldap3  # noqa: E402
import msgspec  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from nomaflow.actors.ports import StepContext, StepLog  # noqa: E402
from nomaflow.engine.steps.base import StepEnvironment  # noqa: E402
from nomaflow.engine.steps.ldap_sync import LdapSyncOptions, LdapSyncStep  # noqa: E402
from tests.engine.steps.ldap_fixture import (  # noqa: E402
    READER_DN,
    READER_PASSWORD,
    SUFFIX,
    Slapd,
    base_ldif,
    people_ldif,
)

PG_URL = os.environ.get("NOMAFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = "nomaflow_bench_ldap"
BASE_DN = f"ou=people,{SUFFIX}"
TABLE_SQL = (
    "CREATE TABLE {name} (uid text PRIMARY KEY, email text, full_name text, phones text, employee integer)"
)
ATTRIBUTES = {
    "uid": "uid",
    "mail": "email",
    "cn": "full_name",
    "telephoneNumber": {"column": "phones", "multi": "join", "separator": ";"},
    "employeeNumber": "employee",
}


def url_of(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


# --- the baseline -----------------------------------------------------------------------------------


def baseline_read(slapd: Slapd, page_size: int) -> list[tuple[Any, ...]]:
    server = ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE)
    connection = ldap3.Connection(server, READER_DN, READER_PASSWORD, auto_bind=True, read_only=True)
    rows = []
    try:
        for entry in connection.extend.standard.paged_search(
            BASE_DN,
            "(objectClass=inetOrgPerson)",
            attributes=["uid", "mail", "cn", "telephoneNumber", "employeeNumber"],
            paged_size=page_size,
            generator=True,
        ):
            if entry.get("type") != "searchResEntry":
                continue
            values = entry["attributes"]
            employee = values.get("employeeNumber")
            rows.append(
                (
                    values["uid"][0],
                    (values.get("mail") or [None])[0],
                    (values.get("cn") or [None])[0],
                    ";".join(sorted(values.get("telephoneNumber") or [])) or None,
                    int(employee[0]) if employee else None,
                )
            )
    finally:
        connection.unbind()
    return rows


async def baseline(slapd: Slapd, page_size: int) -> float:
    started = time.perf_counter()
    rows = await asyncio.to_thread(baseline_read, slapd, page_size)
    connection = await asyncpg.connect(url_of(DATABASE))
    try:
        async with connection.transaction():
            await connection.executemany(
                "INSERT INTO users_baseline (uid, email, full_name, phones, employee)"
                " VALUES ($1, $2, $3, $4, $5)",
                rows,
            )
    finally:
        await connection.close()
    return time.perf_counter() - started


# --- the step ---------------------------------------------------------------------------------------


def context() -> StepContext:
    return StepContext(
        run_id="bench",
        job="bench",
        step="mirror",
        attempt=1,
        params={},
        dry_run=False,
        outputs={},
        previous_output=None,
        log=StepLog(lambda level, message, fields: None),
        cancel_flag=threading.Event(),
        now=lambda: datetime.now(UTC),
    )


async def step_run(step: LdapSyncStep, options: LdapSyncOptions) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    counts = await step.run(context(), options)
    return time.perf_counter() - started, counts


# --- the run ----------------------------------------------------------------------------------------


async def truncate(*tables: str) -> None:
    connection = await asyncpg.connect(url_of(DATABASE))
    try:
        await connection.execute(f"TRUNCATE {', '.join(tables)}")
    finally:
        await connection.close()


async def main(entries: int, page_size: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="nomaflow-bench-slapd-"))
    slapd = Slapd(folder)
    started = time.perf_counter()
    slapd.load([*base_ldif(), *people_ldif("people", entries)])
    print(f"slapadd of {entries:,} entries: {time.perf_counter() - started:.1f} s")
    slapd.start()
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    step = LdapSyncStep(
        StepEnvironment(root=folder, settings={"connectors": {"bench": {"url": url_of(DATABASE)}}})
    )
    try:
        target = await asyncpg.connect(url_of(DATABASE))
        for name in ("users_step", "users_baseline"):
            await target.execute(TABLE_SQL.format(name=name))
        await target.close()
        options = msgspec.convert(
            {
                "server": slapd.url,
                "bind_dn": READER_DN,
                "bind_password": READER_PASSWORD,
                "base_dn": BASE_DN,
                "filter": "(objectClass=inetOrgPerson)",
                "attributes": ATTRIBUTES,
                "connector": "bench",
                "table": "users_step",
                "key": "uid",
                "page_size": page_size,
                "on_missing": "delete",
            },
            LdapSyncOptions,
        )
        assert step.check(options) == [], step.check(options)
        await step_run(step, options)  # warm-up: pools, imports, slapd's caches
        await baseline(slapd, page_size)

        step_times, baseline_times, resync_times = [], [], []
        for round_number in range(repeat):
            await truncate("users_step", "users_baseline")
            if round_number % 2 == 0:
                elapsed, counts = await step_run(step, options)
                baseline_elapsed = await baseline(slapd, page_size)
            else:
                baseline_elapsed = await baseline(slapd, page_size)
                elapsed, counts = await step_run(step, options)
            assert counts["inserted"] == entries, counts
            step_times.append(elapsed)
            baseline_times.append(baseline_elapsed)
            elapsed, counts = await step_run(step, options)
            assert counts["unchanged"] == entries, counts
            resync_times.append(elapsed)
            print(
                f"round {round_number + 1}: step {step_times[-1]:.2f} s, "
                f"baseline {baseline_times[-1]:.2f} s, unchanged re-sync {resync_times[-1]:.2f} s"
            )
        step_median, baseline_median = statistics.median(step_times), statistics.median(baseline_times)
        resync_median = statistics.median(resync_times)
        print()
        print(f"entries: {entries:,}, page size {page_size}, PostgreSQL, median of {repeat} rounds")
        print(f"baseline (ldap3 paged search + asyncpg executemany): {baseline_median:.2f} s")
        print(f"ldap_sync step, into an empty table:                  {step_median:.2f} s")
        print(f"ldap_sync step, unchanged re-sync:                    {resync_median:.2f} s")
        print(f"ratio step / baseline: {step_median / baseline_median:.2f}x (target <= 1.30x)")
        print(f"step throughput: {entries / step_median:,.0f} entries/s")
    finally:
        await step.aclose()
        slapd.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.entries, arguments.page_size, arguments.repeat))
