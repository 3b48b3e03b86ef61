"""`${...}` templates in step settings: dates, params, run and job identity, earlier outputs, env.

A string that is exactly one `${expr}` renders to the value itself (a list stays a list); otherwise the
values are interpolated as text. `$${` writes a literal `${`. Rendering is not recursive: a param whose
value contains `${env.SECRET}` stays that literal text, so run-time input can never read the environment.
Dates use the job's timezone and the run's logical time (the cron fire it stands for, else its start).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from nomaflow.engine.config.problems import did_you_mean

_EXPR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
REDACTED = "***"

ROOTS = ("month", "today", "yesterday", "now", "params", "run", "job", "steps", "previous", "env")


class TemplateError(Exception):
    """A template names something that does not exist (at load time or at run time)."""


@dataclass(frozen=True)
class Reference:
    text: str  # as written, without ${ }
    parts: tuple[str, ...]

    @property
    def root(self) -> str:
        return self.parts[0]


def _parse(text: str) -> Reference:
    parts = tuple(p.strip() for p in text.strip().split("."))
    if not parts or any(not p for p in parts):
        raise TemplateError(f"'${{{text}}}' is not a valid reference")
    return Reference(text.strip(), parts)


def references(value: Any, path: str = "") -> Iterator[tuple[str, Reference]]:
    """Every `${...}` reference inside `value` (walking lists and tables), with its field path."""
    if isinstance(value, str):
        for match in _EXPR.finditer(value):
            if match.group(0) != "$${":
                yield path, _parse(match.group(1))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{path}[{index}]")


@dataclass(frozen=True)
class StaticContext:
    """What load-time checks know: declared params, earlier steps, and the process environment."""

    params: frozenset[str]
    earlier_steps: tuple[str, ...]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def check(ref: Reference, ctx: StaticContext) -> str | None:
    """Why `ref` can never render, or None if it may."""
    root, rest = ref.root, ref.parts[1:]
    if root not in ROOTS:
        return f"'${{{ref.text}}}': unknown name '{root}'{did_you_mean(root, ROOTS)}"
    if root in ("today", "yesterday", "now") and rest:
        return f"'${{{ref.text}}}': '{root}' has no fields"
    if root == "month" and rest not in (("previous",), ("current",)):
        return f"'${{{ref.text}}}': expected month.previous or month.current"
    if root == "run" and rest != ("id",):
        return f"'${{{ref.text}}}': expected run.id"
    if root == "job" and rest != ("name",):
        return f"'${{{ref.text}}}': expected job.name"
    if root == "params":
        if len(rest) < 1:
            return f"'${{{ref.text}}}': expected params.<name>"
        if rest[0] not in ctx.params:
            declared = ", ".join(sorted(ctx.params)) or "none"
            return (
                f"'${{{ref.text}}}': param '{rest[0]}' is not declared in the job's params "
                f"(declared: {declared}){did_you_mean(rest[0], ctx.params)}"
            )
    if root == "env":
        if len(rest) != 1:
            return f"'${{{ref.text}}}': expected env.<NAME>"
        if rest[0] not in ctx.environ:
            return f"'${{{ref.text}}}': environment variable {rest[0]} is not set"
    if root == "previous":
        if not ctx.earlier_steps:
            return f"'${{{ref.text}}}': the first step has no previous step"
        if rest[:1] != ("output",):
            return f"'${{{ref.text}}}': expected previous.output[.<path>]"
    if root == "steps":
        if len(rest) < 2 or rest[1] != "output":
            return f"'${{{ref.text}}}': expected steps.<name>.output[.<path>]"
        if rest[0] not in ctx.earlier_steps:
            return (
                f"'${{{ref.text}}}': no earlier step named '{rest[0]}'"
                f"{did_you_mean(rest[0], ctx.earlier_steps)}"
            )
    return None


@dataclass(frozen=True)
class Scope:
    """Everything a template may read while a run is in flight."""

    run_id: str
    job: str
    timezone: str
    logical_time: datetime
    params: Mapping[str, Any]
    outputs: Mapping[str, Any]
    previous_output: Any
    environ: Mapping[str, str]


def _month(day: date, back: int) -> str:
    year, month = day.year, day.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


def _walk(value: Any, path: tuple[str, ...], ref: Reference) -> Any:
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"'${{{ref.text}}}': no '{part}' in {_shape(value)}")
    return value


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(list(map(str, value))[:10])
        return f"an object with keys [{keys}]"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__} value"


def resolve(ref: Reference, scope: Scope, *, redact_env: bool = False) -> Any:
    local = scope.logical_time.astimezone(ZoneInfo(scope.timezone))
    root, rest = ref.root, ref.parts[1:]
    if root == "today":
        return local.date().isoformat()
    if root == "yesterday":
        return (local.date() - timedelta(days=1)).isoformat()
    if root == "now":
        return local.replace(microsecond=0).isoformat()
    if root == "month":
        return _month(local.date(), 1 if rest == ("previous",) else 0)
    if root == "run":
        return scope.run_id
    if root == "job":
        return scope.job
    if root == "params":
        return _walk(scope.params, rest, ref)
    if root == "env":
        if rest[0] not in scope.environ:
            raise TemplateError(f"'${{{ref.text}}}': environment variable {rest[0]} is not set")
        return REDACTED if redact_env else scope.environ[rest[0]]
    if root == "previous":
        return _walk(scope.previous_output, rest[1:], ref)
    if root == "steps":
        if rest[0] not in scope.outputs:
            raise TemplateError(f"'${{{ref.text}}}': step '{rest[0]}' has no output yet")
        return _walk(scope.outputs[rest[0]], rest[2:], ref)
    raise TemplateError(f"'${{{ref.text}}}': unknown name '{root}'")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return "" if value is None else msgspec.json.encode(value).decode()
    return msgspec.json.encode(value).decode()


def render(value: Any, scope: Scope, *, redact_env: bool = False) -> Any:
    """`value` with every template replaced; tables and lists are rendered item by item."""
    if isinstance(value, str):
        matches = list(_EXPR.finditer(value))
        if not matches:
            return value
        if len(matches) == 1 and matches[0].group(0) != "$${" and matches[0].span() == (0, len(value)):
            return resolve(_parse(matches[0].group(1)), scope, redact_env=redact_env)

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            return _as_text(resolve(_parse(match.group(1)), scope, redact_env=redact_env))

        return _EXPR.sub(substitute, value)
    if isinstance(value, dict):
        return {key: render(item, scope, redact_env=redact_env) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope, redact_env=redact_env) for item in value]
    return value


def is_name(text: str) -> bool:
    return bool(_NAME.match(text))
