"""The SQL steps end to end through the Engine: an install folder with connectors (a secret from the
environment), named queries and a job that writes, copies and reads; and the load-time errors."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from nomaflow.engine import ConfigError, Engine
from nomaflow.engine.config import load_install
from tests.engine.steps.conftest import PgPair

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

QUERIES = """\
-- name: record-sale
INSERT INTO sales (region, amount) VALUES (:region, :amount)

-- name: sales-since
SELECT region, sum(amount) AS total FROM sales WHERE amount >= :min_amount GROUP BY region

-- name: count-totals
SELECT count(*) AS n FROM totals
"""

JOBS = """\
[[jobs]]
name = "nightly"
params = { region = "north", amount = "12.50", min_amount = 0 }

[[jobs.steps]]
name = "record"
type = "sql_query"
connector = "ops"
query = "record-sale:write"
params = { region = "${params.region}", amount = "${params.amount}" }

[[jobs.steps]]
name = "copy"
type = "sql_copy"
source = "ops"
query = "sales-since"
params = { min_amount = "${params.min_amount}" }
target = "warehouse"
table = "totals"
create = true
columns = { total = "numeric(14,2)" }

[[jobs.steps]]
name = "check"
type = "sql_query"
connector = "warehouse"
query = "count-totals:read"
"""


def with_password(url: str, password: str) -> str:
    # Trust authentication ignores the password; it is there to prove it never shows.
    return (
        make_url(url)
        .set(password=password)
        .render_as_string(hide_password=False)
        .replace(password, "${env.NF_WAREHOUSE_PASSWORD}")
    )


def write_install(root: Path, pg_pair: PgPair, jobs: str = JOBS) -> Path:
    (root / "app.toml").write_text(
        f'[connectors.ops]\nurl = "{pg_pair.source}"\n\n'
        f'[connectors.warehouse]\nurl = "{with_password(pg_pair.target, "placeholder")}"\npool_size = 2\n\n'
        f"[jobs]\nscheduler_enabled = false\n"
    )
    app = root / "plugins" / "etl"
    (app / "queries").mkdir(parents=True)
    (app / "queries" / "sales.sql").write_text(QUERIES)
    (app / "jobs.toml").write_text(jobs)
    return root / "app.toml"


async def test_a_job_writes_copies_and_reads(
    pg_pair: PgPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"pw-{secrets.token_hex(8)}"
    monkeypatch.setenv("NF_WAREHOUSE_PASSWORD", secret)
    source = await asyncpg.connect(pg_pair.source)
    target = await asyncpg.connect(pg_pair.target)
    try:
        await source.execute(
            "DROP TABLE IF EXISTS sales; CREATE TABLE sales (region text, amount numeric(10,2))"
        )
        await target.execute("DROP TABLE IF EXISTS totals")
        app_toml = write_install(tmp_path, pg_pair)
        async with Engine.from_path(app_toml, scheduler=False) as engine:
            run = await engine.trigger(
                "nightly", params={"amount": "7.25", "region": "x'); DROP TABLE sales; --"}
            )
            outcome = await run.wait()
            assert outcome.status == "succeeded", outcome
            assert outcome.step("record").output == {"rows_affected": 1, "dry_run": False, "committed": True}
            copied = outcome.step("copy").output
            assert copied["rows"] == 1 and copied["created"] is True and copied["rows_per_second"] > 0
            assert outcome.step("check").output["first_rows"] == [{"n": 1}]

            dry = await engine.trigger("nightly", dry_run=True)
            dry_outcome = await dry.wait()
            assert dry_outcome.status == "succeeded"
            assert dry_outcome.step("record").output["committed"] is False
            assert dry_outcome.step("copy").output == {
                "dry_run": True,
                "source_rows": 1,
                "mode": "replace",
                "table": "totals",
            }

            stored = [*await engine.store.get_logs(run.run_id), *await engine.store.get_logs(dry.run_id)]
            steps = [*await engine.store.get_steps(run.run_id), *await engine.store.get_steps(dry.run_id)]
            everything = repr(stored) + repr(steps)
            assert secret not in everything
        assert await source.fetch("SELECT region, amount::text FROM sales") == [
            ("x'); DROP TABLE sales; --", "7.25")
        ]
        assert (
            await target.fetchval(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'totals'::regclass AND attname = 'total'"
            )
            == "numeric(14,2)"
        )
    finally:
        await source.close()
        await target.close()


async def test_bad_sql_steps_are_reported_when_the_configuration_loads(
    pg_pair: PgPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_WAREHOUSE_PASSWORD", "x")
    jobs = (
        JOBS.replace('connector = "ops"', 'connector = "opz"', 1)
        .replace('query = "sales-since"', 'query = "sales-sinse"')
        .replace('table = "totals"', 'table = "totals; DROP TABLE x"')
        .replace(
            'columns = { total = "numeric(14,2)" }',
            'columns = { total = "numeric(14,2)); DROP TABLE x; --" }',
        )
        .replace('query = "count-totals:read"', 'query = "count-totals"')
    )
    app_toml = write_install(tmp_path, pg_pair, jobs)
    with pytest.raises(ConfigError) as caught:
        load_install(app_toml)
    problems = {(p.path, p.message) for p in caught.value.problems}
    assert all(str(p).startswith("plugins/etl/jobs.toml:") for p in caught.value.problems)
    paths = {path for path, _ in problems}
    assert paths >= {
        "jobs[0].steps[0].connector",
        "jobs[0].steps[1].query",
        "jobs[0].steps[1].table",
        "jobs[0].steps[1].columns.total",
        "jobs[0].steps[2].query",
    }
    messages = " | ".join(message for _, message in problems)
    assert "no connector named 'opz' (did you mean \"ops\"?)" in messages
    assert "no named query 'sales-sinse'" in messages and 'did you mean "sales-since"' in messages
    assert "is not a type name" in messages and "is not a valid name" in messages
    assert "say ':read' or ':write'" in messages
