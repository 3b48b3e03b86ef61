"""Templates render dates in the job's timezone, params, identity, earlier outputs and env (config only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nomaflow.engine.config.templating import (
    REDACTED,
    Scope,
    StaticContext,
    TemplateError,
    check,
    references,
    render,
)


def scope(**changes: Any) -> Scope:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "job": "billing",
        "timezone": "Europe/Paris",
        # 23:30 UTC on Jan 31 is already Feb 1 in Paris
        "logical_time": datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
        "params": {"region": "north", "limit": 5, "tags": ["a", "b"]},
        "outputs": {"extract": {"rows": [{"id": 1}, {"id": 2}], "count": 2}},
        "previous_output": {"count": 2, "nested": {"ok": True}},
        "environ": {"API_TOKEN": "s3cret"},
    }
    values.update(changes)
    return Scope(**values)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${today}", "2026-02-01"),
        ("${yesterday}", "2026-01-31"),
        ("${month.current}", "2026-02"),
        ("${month.previous}", "2026-01"),
        ("${now}", "2026-02-01T00:30:00+01:00"),
        ("${run.id}", "run-1"),
        ("${job.name}", "billing"),
        ("${params.limit}", 5),
        ("${params.tags}", ["a", "b"]),
        ("${steps.extract.output.rows}", [{"id": 1}, {"id": 2}]),
        ("${steps.extract.output.rows.1.id}", 2),
        ("${previous.output.nested.ok}", True),
        ("${env.API_TOKEN}", "s3cret"),
        ("report-${params.region}-${month.previous}.csv", "report-north-2026-01.csv"),
        ("count=${previous.output.count}", "count=2"),
        ("literal $${today}", "literal ${today}"),
        ("no template", "no template"),
    ],
)
def test_render(template: str, expected: Any) -> None:
    assert render(template, scope()) == expected


def test_month_previous_crosses_the_year() -> None:
    assert render("${month.previous}", scope(logical_time=datetime(2026, 1, 10, tzinfo=UTC))) == "2025-12"


def test_dates_follow_the_jobs_timezone() -> None:
    at = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    assert render("${today}", scope(logical_time=at, timezone="America/New_York")) == "2026-02-28"
    assert render("${today}", scope(logical_time=at, timezone="Asia/Tokyo")) == "2026-03-01"


def test_tables_and_lists_render_item_by_item() -> None:
    value = {"a": ["${params.region}", {"b": "${params.limit}"}], "c": 3}
    assert render(value, scope()) == {"a": ["north", {"b": 5}], "c": 3}


def test_rendering_is_not_recursive_so_params_cannot_read_env() -> None:
    hostile = scope(params={"region": "${env.API_TOKEN}"})
    assert render("${params.region}", hostile) == "${env.API_TOKEN}"
    assert render("x-${params.region}", hostile) == "x-${env.API_TOKEN}"


def test_env_is_redacted_in_snapshots() -> None:
    assert render("Bearer ${env.API_TOKEN}", scope(), redact_env=True) == f"Bearer {REDACTED}"


def test_missing_output_paths_name_what_exists() -> None:
    with pytest.raises(TemplateError, match=r"no 'missing' in an object with keys \[count, nested\]"):
        render("${previous.output.missing}", scope())
    with pytest.raises(TemplateError, match="no '9' in a list of 2 items"):
        render("${steps.extract.output.rows.9}", scope())


STATIC = StaticContext(params=frozenset({"region"}), earlier_steps=("extract",), environ={"HOME": "/root"})


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("${todya}", "unknown name 'todya' (did you mean \"today\"?)"),
        ("${params.regoin}", "param 'regoin' is not declared"),
        ("${steps.load.output}", "no earlier step named 'load'"),
        ("${steps.extract}", "expected steps.<name>.output"),
        ("${env.NOT_SET_ANYWHERE}", "environment variable NOT_SET_ANYWHERE is not set"),
        ("${month.next}", "expected month.previous or month.current"),
        ("${run.name}", "expected run.id"),
    ],
)
def test_load_time_checks(template: str, problem: str) -> None:
    [(_, ref)] = list(references({"x": template}))
    message = check(ref, STATIC)
    assert message is not None and problem in message


def test_previous_is_refused_in_a_first_step() -> None:
    [(_, ref)] = list(references("${previous.output}"))
    assert "first step has no previous step" in (check(ref, StaticContext(frozenset(), ())) or "")


def test_valid_references_pass_and_carry_their_path() -> None:
    found = list(references({"kwargs": {"a": "${params.region}", "b": ["${steps.extract.output.count}"]}}))
    assert [path for path, _ in found] == ["kwargs.a", "kwargs.b[0]"]
    assert all(check(ref, STATIC) is None for _, ref in found)
