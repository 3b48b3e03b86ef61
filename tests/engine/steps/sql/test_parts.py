"""The parts of the SQL steps that need no server: placeholders, query files, connectors and secrets,
the type map, and the load-time checks of both step types."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nomaflow.engine.config.model import ConnectorSettings
from nomaflow.engine.resources.connectors import ConnectorError, Connectors, Dialect, resolve_connector
from nomaflow.engine.resources.queries import QueryBook, QueryError, parse_reference, parse_sql
from nomaflow.engine.steps.sql.dialects import BadName, TableName
from nomaflow.engine.steps.sql.types import (
    Kind,
    SqlType,
    ValueMismatch,
    parse_mysql,
    parse_override,
    parse_postgres,
    parse_sqlite,
    render,
)
from nomaflow.engine.steps.sql.values import compatible, to_kind
from tests.engine.steps.conftest import SqlInstall

# --- placeholders -----------------------------------------------------------------------------------


def test_placeholders_skip_strings_comments_casts_and_dollar_quotes() -> None:
    sql = (
        "SELECT :a::int, ':b', \"x:y\", $$ :c $$, $t$ :d $t$ -- :e\n"
        "/* :f */ FROM t WHERE x = :b AND y = :a AND z LIKE 'a%'"
    )
    template = parse_sql(sql, "postgresql")
    assert template.names == ("a", "b", "a") and template.params == ["a", "b"]
    text, args = template.render("postgresql", {"a": 1, "b": 2})
    assert text.startswith("SELECT $1::int, ':b'") and "x = $2 AND y = $1" in text and args == [1, 2]
    text, args = parse_sql(sql.replace("$$ :c $$, $t$ :d $t$", "1"), "mysql").render(
        "mysql", {"a": 1, "b": 2}
    )
    assert "x = %s AND y = %s AND z LIKE 'a%%'" in text and args == [1, 2, 1]  # % doubled for the driver
    text, args = parse_sql("SELECT :a, '?'", "sqlite").render("sqlite", {"a": 5})
    assert text == "SELECT ?, '?'" and args == [5]


def test_mysql_backslash_escapes_keep_a_quote_inside_the_string() -> None:
    template = parse_sql("SELECT 'it\\'s :not', :yes", "mysql")
    assert template.names == ("yes",)


def test_missing_parameter_values_are_named() -> None:
    with pytest.raises(QueryError, match="no value for parameters a, b"):
        parse_sql("SELECT :a, :b", "postgresql").render("postgresql", {})


def test_statements_are_counted() -> None:
    assert parse_sql("SELECT 1; -- done", "postgresql").statements == 1
    assert parse_sql("SELECT ';'; SELECT 2", "postgresql").statements == 2


# --- query files ------------------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_query_files_are_cut_at_name_markers(tmp_path: Path) -> None:
    write(
        tmp_path / "billing/queries/a.sql",
        "-- totals\n\n-- name: refresh-totals\nUPDATE t SET x = 1;\n"
        "-- name: list\nSELECT 1\n\n-- name: twice\nSELECT 1; SELECT 2\n",
    )
    write(
        tmp_path / "crm/queries/b.sql",
        "-- name: list\nSELECT 2\n-- name: dup\nSELECT 1\n-- name: dup\nSELECT 2\n",
    )
    write(tmp_path / "crm/queries/c.sql", "SELECT 'no name'\n-- name: ok\nSELECT 3\n")
    book = QueryBook.load(tmp_path)
    query = book.find(parse_reference("refresh-totals:write"))
    assert (query.app, query.sql, query.line) == ("billing", "UPDATE t SET x = 1", 3)
    assert book.find(parse_reference("crm/list")).sql == "SELECT 2"
    with pytest.raises(QueryError, match="used by several apps: write one of 'billing/list', 'crm/list'"):
        book.find(parse_reference("list:read"))
    with pytest.raises(QueryError, match="holds 2 statements"):
        book.find(parse_reference("twice"))
    with pytest.raises(QueryError, match="defined twice in app 'crm'"):
        book.find(parse_reference("dup"))
    with pytest.raises(QueryError, match=r"no named query 'refresh-total'.*did you mean \"refresh-totals\""):
        book.find(parse_reference("refresh-total"))
    assert any("belongs to no query" in p for p in book.problems[""])


@pytest.mark.parametrize("text", ["name:delete", "a/b/c:read", "bad name", ":read"])
def test_bad_query_references(text: str) -> None:
    with pytest.raises(QueryError):
        parse_reference(text)


# --- connectors -------------------------------------------------------------------------------------


def test_secrets_come_from_the_environment_and_never_show(tmp_path: Path) -> None:
    settings = ConnectorSettings(url="postgresql://app:${env.NF_PW}@db.example:5432/sales")
    connector = resolve_connector("sales", settings, tmp_path, {"NF_PW": "p@ss/w0rd"})
    assert connector.url.password == "p@ss/w0rd" and connector.dialect == "postgresql"
    assert "p@ss" not in connector.shown and "p@ss" not in repr(connector)
    assert connector.scrub("failed for p@ss/w0rd and p%40ss%2Fw0rd") == "failed for *** and ***"
    with pytest.raises(ConnectorError, match=r"url uses \$\{env.NF_PW\}, which is not set"):
        resolve_connector("sales", settings, tmp_path, {})


def test_connector_urls_are_checked(tmp_path: Path) -> None:
    def resolve(url: str) -> str:
        try:
            resolve_connector("c", ConnectorSettings(url=url), tmp_path, {})
        except ConnectorError as exc:
            return str(exc)
        return ""

    assert 'did you mean "postgresql"' in resolve("postgresq://x/y")
    assert "needs a file" in resolve("sqlite:///:memory:")
    assert "only use ${env.NAME}" in resolve("postgresql://u@h/${params.db}")
    assert "u:***@" in resolve("not a url://u:hunter2@h") and "hunter2" not in resolve(
        "not a url://u:hunter2@h"
    )
    lite = resolve_connector("c", ConnectorSettings(url="sqlite:///data/x.db"), tmp_path, {})
    assert lite.url.database == str(tmp_path / "data" / "x.db")
    maria = resolve_connector("c", ConnectorSettings(url="mariadb://root@127.0.0.1/test"), tmp_path, {})
    assert maria.dialect == "mysql" and maria.url.drivername == "mysql+asyncmy"


def test_the_job_store_is_the_default_connector(tmp_path: Path) -> None:
    registry = Connectors({}, root=tmp_path, store_url=f"sqlite+aiosqlite:///{tmp_path}/nomaflow.db")
    assert registry.names == ["default"] and registry.get("default").dialect == "sqlite"
    assert "no connector named 'defualt' (did you mean \"default\"?)" in str(registry.problem("defualt"))


# --- the type map -----------------------------------------------------------------------------------


def test_types_read_and_written_per_dialect() -> None:
    numeric = parse_postgres("numeric(12,2)")
    assert (numeric.kind, numeric.precision, numeric.scale) == (Kind.NUMERIC, 12, 2)
    assert [render(numeric, d) for d in ("postgresql", "mysql", "sqlite")] == [
        "numeric(12,2)",
        "decimal(12,2)",
        "DECIMAL_TEXT(12,2)",
    ]
    tz = parse_postgres("timestamp with time zone")
    assert [render(tz, d) for d in ("postgresql", "mysql", "sqlite")] == [
        "timestamptz",
        "datetime(6)",
        "TIMESTAMPTZ",
    ]
    assert parse_mysql("tinyint(1)").kind is Kind.BOOLEAN and parse_mysql("tinyint(4)").kind is Kind.SMALLINT
    assert parse_mysql("longtext", is_json=True).kind is Kind.JSON
    assert parse_sqlite("DECIMAL_TEXT(12,2)") == parse_sqlite("DECIMAL_TEXT(12,2)")
    assert (
        parse_sqlite("DECIMAL_TEXT(12,2)").kind is Kind.NUMERIC
        and parse_sqlite("VARCHAR(3)").kind is Kind.VARCHAR
    )
    assert parse_sqlite("").kind is Kind.OTHER and parse_postgres("int4[]").kind is Kind.OTHER
    # Every mapped kind renders on every dialect, and reads back as itself.
    for kind in Kind:
        if kind in (Kind.OTHER, Kind.INTERVAL):
            continue
        dialects: tuple[tuple[Dialect, Callable[[str], SqlType]], ...] = (
            ("postgresql", parse_postgres),
            ("sqlite", parse_sqlite),
        )
        for dialect, parse in dialects:
            spelled = render(parse_postgres(render_kind(kind)), dialect)
            expected = kind
            if dialect == "sqlite" and kind in (Kind.SMALLINT, Kind.INTEGER, Kind.REAL):
                expected = Kind.DOUBLE if kind is Kind.REAL else Kind.BIGINT  # SQLite's are all 64-bit
            assert parse(spelled).kind is expected, (kind, dialect, spelled)


def render_kind(kind: Kind) -> str:
    return {"double": "double precision", "binary": "bytea", "json": "jsonb", "varchar": "varchar(10)"}.get(
        kind.value, kind.value
    )


def test_value_conversions() -> None:
    assert to_kind(Kind.BIGINT)("42") == 42 and to_kind(Kind.BIGINT)(Decimal("3.0")) == 3
    assert to_kind(Kind.NUMERIC)(1.1) == Decimal("1.1") and to_kind(Kind.NUMERIC)("12.30") == Decimal("12.30")
    assert to_kind(Kind.BOOLEAN)("yes") is True and to_kind(Kind.BOOLEAN)(0) is False
    assert to_kind(Kind.DATE)("2024-02-29") == date(2024, 2, 29)
    assert to_kind(Kind.TIMESTAMPTZ)("2024-01-01 10:00:00") == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert to_kind(Kind.TIMESTAMP)("2024-01-01T10:00:00+02:00") == datetime(2024, 1, 1, 8)
    assert to_kind(Kind.JSON)({"a": [1]}) == '{"a":[1]}'
    for kind, value in (
        (Kind.BIGINT, "1.5"),
        (Kind.BOOLEAN, "maybe"),
        (Kind.DATE, "tomorrow"),
        (Kind.BINARY, "x"),
    ):
        with pytest.raises(ValueMismatch):
            to_kind(kind)(value)
    assert not compatible(Kind.DATE, Kind.BIGINT) and not compatible(Kind.BINARY, Kind.TEXT)
    assert compatible(Kind.TEXT, Kind.NUMERIC) and compatible(Kind.TIMESTAMP, Kind.TIMESTAMPTZ)


def test_overrides_are_type_names_only() -> None:
    assert parse_override("numeric(12,2)", "postgresql").kind is Kind.NUMERIC
    assert parse_override("timestamp with time zone", "postgresql").kind is Kind.TIMESTAMPTZ
    for text in ("numeric(12,2)); DROP TABLE x; --", "text -- x", "int; drop", ""):
        with pytest.raises(ValueError, match="is not a type name"):
            parse_override(text, "postgresql")
    with pytest.raises(ValueError, match="unknown postgresql type 'geomtry'"):
        parse_override("geomtry", "postgresql")


def test_table_names() -> None:
    assert TableName.parse("sales.orders") == TableName("sales", "orders")
    assert TableName.parse("Zoë_1").name == "Zoë_1"
    for bad in ("orders; drop table x", "a.b.c", "1abc", 'x"y', "", "a" * 64):
        with pytest.raises(BadName):
            TableName.parse(bad)


# --- load-time checks of the step types ---------------------------------------------------------------


@pytest.fixture
async def install(sql_install: SqlInstall) -> SqlInstall:
    sql_install.connector("ops", "postgresql://u@127.0.0.1/ops").connector("lake", "sqlite:///lake.db")
    sql_install.queries(
        "app", "q.sql", "-- name: orders\nSELECT * FROM orders WHERE day = :day AND shop = :shop\n"
    )
    return sql_install


@pytest.mark.anyio
async def test_sql_query_checks(install: SqlInstall) -> None:
    problems = install.check("sql_query", connector="opps", query="orders:read", params={"day": 1, "shp": 2})
    assert problems == [
        (
            "connector",
            "no connector named 'opps' (did you mean \"ops\"?) "
            "(declared in app.toml [connectors.*]: lake, ops)",
        ),
        ("params.shop", "query 'orders:read' uses :shop, which params does not give"),
        (
            "params.shp",
            "query 'orders:read' has no parameter :shp (did you mean \"shop\"?) (it uses :day, :shop)",
        ),
    ]
    assert (
        install.check("sql_query", connector="ops", query="orders:read", params={"day": 1, "shop": 2}) == []
    )
    assert install.check("sql_query", connector="ops", query="orders", params={"day": 1, "shop": 2}) == [
        ("query", "'orders': say ':read' or ':write' after the query name")
    ]


@pytest.mark.anyio
async def test_sql_copy_checks(install: SqlInstall) -> None:
    base = {"source": "ops", "target": "lake", "table": "orders", "params": {"day": 1, "shop": 2}}
    assert install.check("sql_copy", query="orders", **base) == []
    assert install.check("sql_copy", query="orders:write", **base)[0][1].endswith(
        "sql_copy reads its source: write the query name, or '<name>:read'"
    )
    problems = dict(
        install.check(
            "sql_copy",
            query="orders",
            mode="upsert",
            columns={"amount": "decimal(10,2)"},
            batch_size=0,
            **{**base, "table": "main.orders;"},
        )
    )
    assert set(problems) == {"table", "key", "columns", "batch_size"}
    assert dict(install.check("sql_copy", query="orders", key=["id"], **base))["key"] == (
        'key is only used by mode = "upsert", not "replace"'
    )
    assert dict(install.check("sql_copy", **base))["query"].startswith("give either query")


def test_a_mariadb_connection_killed_mid_result_is_worth_another_attempt() -> None:
    from asyncmy import errors

    from nomaflow.engine.steps.sql.errors import classify

    assert classify(errors.InternalError("Packet sequence number wrong - got 55 expected 32")) == (
        True,
        "Packet sequence number wrong - got 55 expected 32",
    )
    assert classify(errors.OperationalError(2013, "Lost connection to server during query"))[0]
    assert not classify(errors.ProgrammingError(1064, "You have an error in your SQL syntax"))[0]
