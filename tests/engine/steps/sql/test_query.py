"""sql_query on PostgreSQL, MariaDB and SQLite: reads, writes, dry runs, bound parameters, and errors
that name the step, the field and the value."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from tests.engine.steps.conftest import PgPair, SqlInstall

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

INJECTION = "x'); DROP TABLE {table}; --"

QUERIES = """\
-- Queries of the tests; each block is one statement.

-- name: make-notes
CREATE TABLE {table} (id integer PRIMARY KEY, body text, amount numeric(10,2), meta {json})

-- name: add-note
INSERT INTO {table} (id, body, amount, meta) VALUES (:id, :body, :amount, :meta);

-- name: notes
SELECT id, body, amount, meta, ':not_a_param' AS literal
FROM {table} -- a comment with :not_a_param either
WHERE amount >= :min_amount AND body LIKE '%' ORDER BY id

-- name: drop-notes
DROP TABLE {table}

-- name: bump
UPDATE {table} SET amount = amount + 1 WHERE id <= :up_to
"""


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def database(request: pytest.FixtureRequest, pg_pair: PgPair, tmp_path: Path) -> tuple[str, str]:
    kind: str = request.param
    if kind == "postgresql":
        return kind, pg_pair.target
    if kind == "mariadb":
        return kind, request.getfixturevalue("mariadb_url")
    return kind, f"sqlite:///{tmp_path / 'query.db'}"


@pytest.fixture
def notes_table() -> str:
    """The name of this test's notes table (a fresh one, so the databases' tests never meet)."""
    return f"notes_{secrets.token_hex(3)}"


@pytest.fixture
def notes(database: tuple[str, str], sql_install: SqlInstall, notes_table: str) -> SqlInstall:
    kind, url = database
    json_type = {"postgresql": "jsonb", "mariadb": "json", "sqlite": "JSON"}[kind]
    queries = QUERIES.format(table=notes_table, json=json_type)
    sql_install.connector("db", url).queries("app", "notes.sql", queries)
    return sql_install


async def add(install: SqlInstall, id: int, body: str, amount: Any = "1.50", dry_run: bool = False) -> Any:
    params = {"id": id, "body": body, "amount": amount, "meta": {"tags": ["a", "é"], "n": id}}
    return await install.run(
        "sql_query", connector="db", query="add-note:write", params=params, dry_run=dry_run
    )


async def test_write_then_read(notes: SqlInstall) -> None:
    await notes.run("sql_query", connector="db", query="make-notes:write")
    for index in range(1, 31):
        output = await add(notes, index, f"note {index} ✓", f"{index}.25")
        assert output == {"rows_affected": 1, "dry_run": False, "committed": True}
    output = await notes.run(
        "sql_query", connector="db", query="notes:read", params={"min_amount": "10"}, max_rows=3
    )
    assert output["rows"] == 21 and output["truncated"] is True
    assert output["columns"] == ["id", "body", "amount", "meta", "literal"]
    first = output["first_rows"][0]
    assert first["id"] == 10 and first["body"] == "note 10 ✓" and first["literal"] == ":not_a_param"
    assert Decimal(str(first["amount"])) == Decimal("10.25")
    assert len(output["first_rows"]) == 3


async def test_dry_run_write_reports_and_rolls_back(notes: SqlInstall) -> None:
    await notes.run("sql_query", connector="db", query="make-notes:write")
    for index in (1, 2, 3):
        await add(notes, index, "n", "1.00")
    output = await notes.run(
        "sql_query", connector="db", query="bump:write", params={"up_to": 2}, dry_run=True
    )
    assert output == {"rows_affected": 2, "dry_run": True, "committed": False}
    read = await notes.run("sql_query", connector="db", query="notes:read", params={"min_amount": 0})
    # (SQLite's NUMERIC affinity keeps 1.00 as the integer 1: compare the numbers)
    assert [Decimal(str(r["amount"])) for r in read["first_rows"]] == [Decimal("1.00")] * 3
    assert (await add(notes, 9, "dry", dry_run=True))["rows_affected"] == 1
    read = await notes.run("sql_query", connector="db", query="notes:read", params={"min_amount": 0})
    assert read["rows"] == 3


async def test_parameters_are_data_never_sql(notes: SqlInstall, notes_table: str) -> None:
    table = notes_table
    await notes.run("sql_query", connector="db", query="make-notes:write")
    evil = INJECTION.format(table=table)
    await add(notes, 1, evil, "0")
    await add(notes, 2, "Robert'); DROP TABLE students;--", "0")
    read = await notes.run("sql_query", connector="db", query="notes:read", params={"min_amount": "0"})
    assert [r["body"] for r in read["first_rows"]] == [evil, "Robert'); DROP TABLE students;--"]


async def test_sql_errors_are_permanent_and_named(notes: SqlInstall) -> None:
    with pytest.raises(PermanentStepFailure) as caught:  # the table does not exist yet
        await notes.run(
            "sql_query", step="report", connector="db", query="notes:read", params={"min_amount": 0}
        )
    assert "step 'report': running query 'notes' on connector 'db'" in str(caught.value)


async def test_postgres_parameters_take_the_type_the_query_gives_them(
    pg_pair: PgPair, sql_install: SqlInstall
) -> None:
    sql_install.connector("db", pg_pair.target).queries(
        "app",
        "typed.sql",
        "-- name: typed\n"
        "SELECT :day::date + 1 AS next_day, :ids::int[] AS ids, 7 = ANY(:ids) AS has_seven,\n"
        "       :at::timestamptz AS at, :flag::boolean AS flag, $$:not$$ AS dollar\n",
    )
    params = {"day": "2024-02-28", "ids": [1, "7"], "at": "2024-05-01T10:00:00+02:00", "flag": "yes"}
    output = await sql_install.run("sql_query", connector="db", query="typed:read", params=params)
    assert output["first_rows"] == [
        {
            "next_day": "2024-02-29",
            "ids": [1, 7],
            "has_seven": True,
            "at": "2024-05-01T08:00:00Z",
            "flag": True,
            "dollar": ":not",
        }
    ]
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run(
            "sql_query", step="s", connector="db", query="typed:read", params={**params, "day": "soon"}
        )
    assert str(caught.value) == (
        "step 's': running query 'typed' on connector 'db': parameter 'day' = 'soon': "
        "expected a date (YYYY-MM-DD) (the query uses it as date)"
    )


async def test_mariadb_dry_run_refuses_ddl(mariadb_url: str, sql_install: SqlInstall) -> None:
    sql_install.connector("maria", mariadb_url).queries(
        "app", "ddl.sql", "-- name: make\nCREATE TABLE dry (a int)\n"
    )
    with pytest.raises(PermanentStepFailure) as caught:
        await sql_install.run("sql_query", step="s", connector="maria", query="make:write", dry_run=True)
    assert "cannot roll back" in str(caught.value)


async def test_an_unreachable_server_is_retryable_and_its_password_is_never_shown(
    sql_install: SqlInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_TEST_DB_PASSWORD", "s3cr3t-p@ss")
    sql_install.connector("gone", "postgresql://app:${env.NF_TEST_DB_PASSWORD}@127.0.0.1:1/nowhere")
    sql_install.queries("app", "q.sql", "-- name: one\nSELECT 1\n")
    with pytest.raises(StepFailure) as caught:
        await sql_install.run("sql_query", step="s", connector="gone", query="one:read")
    assert not isinstance(caught.value, PermanentStepFailure)
    assert "step 's'" in str(caught.value) and "s3cr3t" not in str(caught.value)
