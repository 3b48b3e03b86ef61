"""Loading many jobs: work shared by jobs written alike is done once, and every problem is still
reported under its own path and line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from nomaflow.engine.config import ConfigError, load_install
from nomaflow.engine.config.checks import frozen
from nomaflow.engine.config.decode import decode_struct
from nomaflow.engine.steps.python.step import PythonOptions, PythonStep

JOB_LINES = 8  # the lines one job takes in `jobs_toml`, the blank line after it included


def jobs_toml(callables: list[str]) -> str:
    return "\n".join(
        f'[[jobs]]\nname = "job-{i}"\nschedule = "{i % 60} 3 * * *"\n'
        f'[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "{target}"\n'
        for i, target in enumerate(callables)
    )


def write_install(root: Path, text: str) -> Path:
    (root / "plugins" / "many").mkdir(parents=True)
    (root / "plugins" / "many" / "jobs.toml").write_text(text)
    (root / "app.toml").write_text("")
    return root / "app.toml"


def test_steps_written_alike_are_checked_once_each_problem_on_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    check = PythonStep.check

    def counting(self: PythonStep, options: PythonOptions) -> list[tuple[str, str]]:
        checked.append(options.callable)
        return check(self, options)

    monkeypatch.setattr(PythonStep, "check", counting)
    bad = {10, 200, 399}
    callables = ["no_such_module_x:f" if i in bad else "os:getcwd" for i in range(400)]
    with pytest.raises(ConfigError) as raised:
        load_install(write_install(tmp_path, jobs_toml(callables)))

    assert sorted(checked) == ["no_such_module_x:f", "os:getcwd"]  # 400 steps, 2 distinct ones
    problems = raised.value.problems
    assert [p.path for p in problems] == [f"jobs[{i}].steps[0].callable" for i in sorted(bad)]
    # `callable` is the 7th line of each job's block
    assert [p.line for p in problems] == [i * JOB_LINES + 7 for i in sorted(bad)]
    assert all("cannot import module 'no_such_module_x'" in p.message for p in problems)


def test_a_problem_in_every_job_of_a_large_file_keeps_its_line(tmp_path: Path) -> None:
    text = jobs_toml(["os:getcwd"] * 2000).replace('schedule = "', 'colour = "red"\nschedule = "')
    with pytest.raises(ConfigError) as raised:
        load_install(write_install(tmp_path, text))
    problems = raised.value.problems
    assert len(problems) == 2000
    assert all(p.message.startswith("unknown key") for p in problems)
    # one more line per job: `colour` is each job's 3rd line
    assert [(p.path, p.line) for p in problems] == [
        (f"jobs[{i}].colour", i * (JOB_LINES + 1) + 3) for i in range(2000)
    ]


def test_options_that_differ_even_in_type_are_never_taken_for_one_another() -> None:
    paris = timezone(timedelta(hours=1))
    noon = datetime(2026, 6, 1, 12, tzinfo=UTC)
    values: list[Any] = [1, 1.0, True, "1", 0.0, -0.0, noon, noon.astimezone(paris), [1], {"a": 1}]
    keys = [frozen(value) for value in values]
    assert None not in keys
    assert len(set(keys)) == len(values)
    assert frozen({"a": [1, {"b": "c"}]}) == frozen({"a": [1, {"b": "c"}]})
    assert frozen({"a": object()}) is None  # a job defined in Python may pass anything: checked each time


class Inner(msgspec.Struct, kw_only=True):  # unknown keys are not refused by msgspec here
    size: int = 1


class Outer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    count: int = 0
    inner: Inner = msgspec.field(default_factory=Inner)


def decode(raw: dict[str, Any]) -> tuple[Outer | None, list[tuple[str, str]]]:
    reported: list[tuple[str, str]] = []
    return decode_struct(raw, Outer, "t", lambda path, message: reported.append((path, message))), reported


def test_decoding_a_table_reports_every_problem_not_only_msgspecs_first() -> None:
    assert decode({"name": "a", "inner": {"size": 2}}) == (Outer(name="a", inner=Inner(size=2)), [])
    _, reported = decode({"name": 1, "count": "x", "colour": 1})
    assert [path for path, _ in reported] == ["t.colour", "t.name", "t.count"]
    # msgspec alone would accept (and drop) the unknown key of a Struct that does not forbid them
    result, reported = decode({"name": "a", "inner": {"sise": 2}})
    assert result is None
    assert reported == [("t.inner.sise", 'unknown key (did you mean "size"?)')]
