"""Run parameters: a job declares its params with defaults; a trigger may override some of them.

Overrides must name declared params and keep the default's type; the CLI's `--param k=v` text is read
as that type. Errors say which job, which param and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nomaflow.actors.jsonable import escaped, unstorable
from nomaflow.engine.config.problems import did_you_mean


class ParamError(ValueError):
    pass


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "whole number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def _article(value: Any) -> str:
    kind = _kind(value)
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _fits(default: Any, value: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return _kind(default) == _kind(value)


def resolve_params(
    job: str, declared: Mapping[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The run's params: the declared defaults with `overrides` applied and checked."""
    params = dict(declared)
    for key, value in (overrides or {}).items():
        check_storable(job, key, value)
        if key not in declared:
            names = ", ".join(sorted(declared)) or "none"
            raise ParamError(
                f"job '{job}' has no param '{escaped(str(key))}'{did_you_mean(str(key), declared)} "
                f"(declared params: {names})"
            )
        if not _fits(declared[key], value):
            raise ParamError(
                f"param '{key}' of job '{job}' expects {_article(declared[key])} "
                f"(default {declared[key]!r}), got {value!r}"
            )
        params[key] = float(value) if isinstance(declared[key], float) else value
    return params


def check_storable(job: str, key: Any, value: Any) -> None:
    """Raise ParamError if the param's name or value holds text the job store cannot keep (NUL, lone
    surrogates), anywhere in nested lists and tables too: refused here, before the run exists."""
    name = escaped(str(key))
    if isinstance(key, str) and (fault := unstorable(key)) is not None:
        raise ParamError(f"param name '{name}' of job '{job}' contains {fault[0]}: it cannot be stored")
    found = unstorable(value, name)
    if found is not None:
        what, where = found
        at = "" if where == name else f" at {where}"
        raise ParamError(f"param '{name}' of job '{job}' contains {what}{at}: it cannot be stored")


def parse_param_text(job: str, declared: Mapping[str, Any], key: str, text: str) -> Any:
    """Read `--param key=text` as the declared param's type."""
    check_storable(job, key, text)
    if key not in declared:
        names = ", ".join(sorted(declared)) or "none"
        raise ParamError(
            f"job '{job}' has no param '{key}'{did_you_mean(key, declared)} (declared params: {names})"
        )
    default = declared[key]
    parsed: Any = text
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            parsed = float(text)
        if isinstance(default, list | dict):
            value = json.loads(text)
            if _kind(value) != _kind(default):
                raise ValueError
            parsed = value
    except ValueError:
        raise ParamError(
            f"param '{key}' of job '{job}' expects {_article(default)} (default {default!r}), got '{text}'"
        ) from None
    check_storable(job, key, parsed)  # JSON escapes ("\u0000") make what a shell cannot pass
    return parsed


def split_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ParamError(f"expected --param name=value, got '{text}'")
    return key.strip(), value
