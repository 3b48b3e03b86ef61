"""Decode plain TOML data into Structs field by field, so one bad field never hides the next.

msgspec stops at the first error of a `convert` call; configuration users want every problem at once,
so each field is converted on its own and every failure becomes a `Problem` with its full path.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from engine.config.problems import Problem, did_you_mean

T = TypeVar("T", bound=msgspec.Struct)

Report = Callable[[str, str], None]  # (field path, message)

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _struct_type(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct inside `annotation` (also `Struct | None`), else None."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _struct_type(members[0])
    return None


def _dict_of_structs(annotation: Any) -> type[msgspec.Struct] | None:
    if typing.get_origin(annotation) is dict:
        _, value = typing.get_args(annotation)
        return _struct_type(value)
    return None


def describe_error(error: msgspec.ValidationError, path: str) -> tuple[str, str]:
    """msgspec's "Expected `int`, got `str` - at `$.a[0]`" as (full path, message)."""
    text = str(error)
    match = _AT.search(text)
    if match:
        text = text[: match.start()]
        suffix = match.group("path")
        path = f"{path}{suffix}" if path else suffix.lstrip(".")
    text = text.replace("`", "'")
    return path, text[0].lower() + text[1:] if text else text


def convert_value(value: Any, annotation: Any, path: str, report: Report) -> tuple[bool, Any]:
    try:
        return True, msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        where, message = describe_error(exc, path)
        report(where, message)
        return False, None


def decode_struct(
    raw: Any,
    cls: type[T],
    path: str,
    report: Report,
    *,
    ignore: tuple[str, ...] = (),
    lenient: bool = False,
) -> T | None:
    """Decode `raw` into `cls`, reporting every unknown key, missing field and wrong type under `path`.

    Keys in `ignore` are left for the caller (a step table's type-specific options, say). Returns None
    after any problem, unless `lenient`: then bad fields are dropped (defaults apply) and the struct is
    returned whenever it can be built, so the caller can keep checking the rest."""
    if not isinstance(raw, dict):
        report(path, f"expected a table, got {type(raw).__name__}")
        return None
    fields = _fields_of(cls)
    ok = True
    for key in raw:
        if key not in fields and key not in ignore:
            report(join(path, key), f"unknown key{did_you_mean(key, list(fields))}")
            ok = False
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in raw:
            if field.required:
                report(join(path, name), "required field is missing")
                ok = False
            continue
        value = raw[name]
        here = join(path, name)
        nested = _struct_type(field.type)
        mapping = _dict_of_structs(field.type)
        if nested is not None and isinstance(value, dict):
            decoded: Any = decode_struct(value, nested, here, report)
            ok &= decoded is not None
        elif mapping is not None and isinstance(value, dict):
            decoded = {}
            for key, item in value.items():
                one = decode_struct(item, mapping, join(here, key), report)
                ok &= one is not None
                decoded[key] = one
        else:
            converted, decoded = convert_value(value, field.type, here, report)
            ok &= converted
        if decoded is not None or field.name not in values:
            values[field.name] = decoded
    if not ok and not lenient:
        return None
    if lenient:
        values = {k: v for k, v in values.items() if v is not None or not _required(cls, k)}
        try:
            return cls(**values)
        except TypeError:
            return None
    return cls(**values)


def _required(cls: type[msgspec.Struct], name: str) -> bool:
    return any(f.name == name and f.required for f in _fields_of(cls).values())


@functools.cache
def _fields_of(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    """A Struct's fields by their TOML name; computed once per class (it resolves type hints)."""
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}


class Counter:
    """Wraps a Report to tell whether anything was reported through it."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self.count = 0

    def __call__(self, path: str, message: str) -> None:
        self.count += 1
        self._report(path, message)


class Collector:
    """Gathers problems for one file; `report` is handed to decoders and checks."""

    def __init__(self, file: str, locate: Callable[[str], int | None] | None = None) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._locate = locate

    def report(self, path: str, message: str) -> None:
        line = self._locate(path) if self._locate else None
        self.problems.append(Problem(self.file, path, message, line))
