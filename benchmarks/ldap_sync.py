"""Benchmark of the ldap_sync step: a directory of N people (default 50,000) mirrored into PostgreSQL,
against a hand-written baseline measured in the same run: an ldap3 paged search feeding one asyncpg
`executemany` INSERT (what an install would script by hand, with none of the step's comparison).

    .venv/bin/python benchmarks/ldap_sync.py [--entries 50000] [--page-size 1000] [--repeat 3]

It starts its own slapd (Debian's OpenLDAP; scripts/setup.sh installs it) on a free port, loads the
entries offline with slapadd, and writes to a database it creates on the PostgreSQL server at
NOMAFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end. Both sides
bind as the same ordinary account, page the same way and write the same five columns into an empty
table; each round runs both, alternating which goes first, and the medians are compared. A second
figure times the step's re-sync of an unchanged directory (read, compare, write nothing). It checks
its target (benchmarks/targets.toml) and exits with 1 if it is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import ldap3
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*` and `tests.*`, run as a script

from benchmarks.harness.databases import ThrowawayDatabases
from benchmarks.harness.lone_step import lone_context
from benchmarks.harness.report import Report, say
from benchmarks.harness.stats import median, ratio
from nomaflow.engine.steps.base import StepEnvironment
from nomaflow.engine.steps.ldap.sync import LdapSyncOptions, LdapSyncStep
from tests.engine.steps.ldap_fixture import (
    READER_DN,
    READER_PASSWORD,
    SUFFIX,
    Slapd,
    base_ldif,
    people_ldif,
)

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


async def baseline(slapd: Slapd, page_size: int, url: str) -> float:
    started = time.perf_counter()
    rows = await asyncio.to_thread(baseline_read, slapd, page_size)
    connection = await asyncpg.connect(url)
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


async def step_run(step: LdapSyncStep, options: LdapSyncOptions) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    counts = await step.run(lone_context("mirror"), options)
    return time.perf_counter() - started, counts


# --- the run ----------------------------------------------------------------------------------------


async def truncate(url: str, *tables: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(tables)}")
    finally:
        await connection.close()


def sync_options(slapd: Slapd, page_size: int) -> LdapSyncOptions:
    return msgspec.convert(
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


async def main(entries: int, page_size: int, repeat: int) -> int:
    report = Report("ldap_sync", "ldap_sync benchmark")
    with tempfile.TemporaryDirectory(prefix="nomaflow-bench-slapd-") as temporary:
        folder = Path(temporary)
        slapd = Slapd(folder)
        started = time.perf_counter()
        slapd.load([*base_ldif(), *people_ldif("people", entries)])
        report.note(f"slapadd of {entries:,} entries: {time.perf_counter() - started:.1f} s")
        slapd.start()
        try:
            async with ThrowawayDatabases("ldap") as databases:
                url = await databases.postgresql()
                report.note(f"PostgreSQL {await databases.postgresql_version()}")
                times = await measure(slapd, folder, url, entries, page_size, repeat)
        finally:
            slapd.stop()
    step_median, baseline_median = median(times["step"]), median(times["baseline"])
    resync_median = median(times["resync"])
    report.section(f"{entries:,} entries into PostgreSQL, page size {page_size}, median of {repeat} rounds")
    report.figure("baseline (ldap3 paged search + asyncpg executemany)", f"{baseline_median:.2f} s")
    report.figure(
        "ldap_sync step, into an empty table",
        f"{step_median:.2f} s",
        times=ratio(step_median, baseline_median),
        against="the baseline's time",
    )
    report.figure("ldap_sync step, unchanged re-sync", f"{resync_median:.2f} s")
    report.figure("step throughput", f"{entries / step_median:,.0f} entries/s")
    report.section("targets")
    report.check("step_ratio", ratio(step_median, baseline_median))
    return report.finish()


async def measure(
    slapd: Slapd, folder: Path, url: str, entries: int, page_size: int, repeat: int
) -> dict[str, list[float]]:
    """`repeat` rounds, each emptying both tables and running both contenders, alternating which goes
    first, then the step again on the unchanged directory; the seconds each took."""
    step = LdapSyncStep(StepEnvironment(root=folder, settings={"connectors": {"bench": {"url": url}}}))
    try:
        target = await asyncpg.connect(url)
        for name in ("users_step", "users_baseline"):
            await target.execute(TABLE_SQL.format(name=name))
        await target.close()
        options = sync_options(slapd, page_size)
        assert step.check(options) == [], step.check(options)
        await step_run(step, options)  # warm-up: pools, imports, slapd's caches
        await baseline(slapd, page_size, url)

        times: dict[str, list[float]] = {"step": [], "baseline": [], "resync": []}
        for round_number in range(repeat):
            await truncate(url, "users_step", "users_baseline")
            if round_number % 2 == 0:
                elapsed, counts = await step_run(step, options)
                baseline_elapsed = await baseline(slapd, page_size, url)
            else:
                baseline_elapsed = await baseline(slapd, page_size, url)
                elapsed, counts = await step_run(step, options)
            assert counts["inserted"] == entries, counts
            times["step"].append(elapsed)
            times["baseline"].append(baseline_elapsed)
            elapsed, counts = await step_run(step, options)
            assert counts["unchanged"] == entries, counts
            times["resync"].append(elapsed)
            say(
                f"round {round_number + 1}: step {times['step'][-1]:.2f} s, "
                f"baseline {times['baseline'][-1]:.2f} s, unchanged re-sync {times['resync'][-1]:.2f} s"
            )
        return times
    finally:
        await step.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.entries, arguments.page_size, arguments.repeat)))
