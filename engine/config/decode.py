"""Decode plain TOML data into Structs field by field, so one bad field never hides the next.

msgspec stops at the first error of a `convert` call; configuration users want every problem at once,
so each field is converted on its own and every failure becomes a `Problem` with its full path.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from nomaflow.engine.config.problems import Problem, did_you_mean

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


def describe_error(error: msgspec.ValidationError, path: str, annotation: Any = None) -> tuple[str, str]:
    """msgspec's "Expected `int`, got `str` - at `$.a[0]`" as (full path, message). With the
    `annotation` that was converted, a refused enum value is answered with the values allowed there."""
    text = str(error)
    suffix = ""
    match = _AT.search(text)
    if match:
        text = text[: match.start()]
        suffix = match.group("path")
        path = f"{path}{suffix}" if path else suffix.lstrip(".")
    enum_value = _ENUM.match(text)
    if enum_value is not None and annotation is not None:
        allowed = allowed_values(type_at(annotation, suffix))
        if allowed:
            return path, f"{enum_value[1]} is not one of {', '.join(allowed)}"
    # In TOML's words: msgspec calls a table an object.
    text = text.replace("`object`", "`table`").replace("`", "'")
    return path, text[0].lower() + text[1:] if text else text


_ENUM = re.compile(r"^Invalid enum value (.*)$", re.DOTALL)
# One step of msgspec's path: `.field`, `[0]` (an item), or `[...]` (a table's value, whatever its key).
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation may hold: a union's members, an Annotated's type, else itself."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(m for a in typing.get_args(annotation) for m in _members(a))
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return (annotation,)


def type_at(annotation: Any, suffix: str) -> Any:
    """The type found at `suffix` (msgspec's `.field[0].key` path) inside `annotation`, or None."""
    current: Any = annotation
    for step in _STEP.finditer(suffix):
        key, index = step.group(1), step.group(2)
        current = next(
            (found for member in _members(current) if (found := _child(member, key, index)) is not None), None
        )
        if current is None:
            return None
    return current


def _child(annotation: Any, key: str | None, index: str | None) -> Any:
    origin = typing.get_origin(annotation)
    if index is not None and origin in (list, tuple, set, frozenset):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    if key is None:
        return None
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return next((f.type for f in msgspec.structs.fields(annotation) if f.encode_name == key), None)
    return None


def _table_item_type(annotation: Any) -> Any:
    """The value type of a `dict[str, X]` annotation (maybe `| None`), else None."""
    for member in _members(annotation):
        if typing.get_origin(member) is dict:
            return typing.get_args(member)[1]
    return None


def allowed_values(annotation: Any) -> list[str]:
    """The values an enum or Literal (or a union holding them) allows, as written in TOML."""
    found: list[str] = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Literal:
            found.extend(str(value) for value in typing.get_args(member))
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            found.extend(str(item.value) for item in member)
    return found


def convert_value(value: Any, annotation: Any, path: str, report: Report) -> tuple[bool, Any]:
    try:
        return True, msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        item_type = _table_item_type(annotation) if isinstance(value, dict) else None
        if item_type is not None:
            # msgspec names a table's key `[...]`: convert the items one by one to name each bad one.
            results = [convert_value(item, item_type, join(path, key), report) for key, item in value.items()]
            if not all(ok for ok, _ in results):
                return False, None
        where, message = describe_error(exc, path, annotation)
        bound = _BOUND.match(str(exc))
        if where == path and bound is not None and (bounds := _bounds(annotation)):
            # msgspec names the one bound that failed; say the whole range, and what was written.
            kind = "a whole number" if bound[1] == "int" else "a number"
            message = f"expected {kind} {bounds}, got {value!r}"
        report(where, message)
        return False, None


_BOUND = re.compile(r"^Expected `(int|float)` [<>]")


def _bounds(annotation: Any) -> str:
    """The range an `Annotated[..., msgspec.Meta(ge=..., le=...)]` (maybe `| None`) allows, in words."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(filter(None, map(_bounds, typing.get_args(annotation))), "")
    if typing.get_origin(annotation) is not typing.Annotated:
        return ""
    parts = []
    for meta in typing.get_args(annotation)[1:]:
        if isinstance(meta, msgspec.Meta):
            for name, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                bound = getattr(meta, name)
                if bound is not None:
                    parts.append(f"{sign} {bound:g}")
    return " and ".join(parts)


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
    if _whole_is_strict(cls) and all(key in fields or key in ignore for key in raw):
        # Fast path: a valid table (the usual case) is converted by msgspec in one call. The
        # field-by-field pass below only runs if that fails, to report every problem, not the first.
        known = {k: v for k, v in raw.items() if k not in ignore} if ignore else raw
        try:
            return msgspec.convert(known, cls, strict=True)
        except msgspec.ValidationError:
            pass
    ok = True
    for key in raw:
        if key not in fields and key not in ignore:
            report(join(path, key), f"unknown key{did_you_mean(key, list(fields))}")
            ok = False
    values: dict[str, Any] = {}
    failed: set[str] = set()  # fields whose value was refused: in lenient mode their default applies
    for encoded, field in fields.items():
        if encoded not in raw:
            if field.info.required:
                report(join(path, encoded), "required field is missing")
                ok = False
            continue
        converted, decoded = _decode_field(raw[encoded], field, join(path, encoded), report)
        if not converted:
            failed.add(field.info.name)
        ok &= converted
        if decoded is not None or field.info.name not in values:
            values[field.info.name] = decoded
    if lenient:
        return _build_lenient(cls, values, failed)
    return cls(**values) if ok else None


def _decode_field(value: Any, field: _Field, here: str, report: Report) -> tuple[bool, Any]:
    """(whether `value` was accepted, its decoded form) for one field, every problem reported."""
    if field.nested is not None and isinstance(value, dict):
        decoded = decode_struct(value, field.nested, here, report)
        return decoded is not None, decoded
    if field.mapping is not None and isinstance(value, dict):
        items = {
            key: decode_struct(item, field.mapping, join(here, key), report) for key, item in value.items()
        }
        return all(item is not None for item in items.values()), items
    return convert_value(value, field.info.type, here, report)


def _build_lenient(cls: type[T], values: dict[str, Any], failed: set[str]) -> T | None:
    """`cls` from the fields that were accepted; None if a required one is missing."""
    # A refused value is dropped, not kept as None: `params = 5` must leave the default {} for the
    # checks that follow, which would otherwise meet None where the type says a dict.
    required = _required_of(cls)
    kept = {k: v for k, v in values.items() if k not in failed and (v is not None or k not in required)}
    try:
        return cls(**kept)
    except TypeError:
        return None


@dataclass(frozen=True)
class _Field:
    """One Struct field and how `decode_struct` treats it, worked out once per class."""

    info: msgspec.structs.FieldInfo
    nested: type[msgspec.Struct] | None  # a Struct (or Struct | None): decoded field by field
    mapping: type[msgspec.Struct] | None  # a dict of Structs: each value decoded field by field


@functools.cache
def _fields_of(cls: type[msgspec.Struct]) -> dict[str, _Field]:
    """A Struct's fields by their TOML name. Computed once per class: `msgspec.structs.fields`
    resolves the type hints, and `_struct_type` walks them with slow `typing` calls, while an install
    decodes the same few classes once per job and step (30,000 times for 10,000 jobs)."""
    return {
        f.encode_name: _Field(f, _struct_type(f.type), _dict_of_structs(f.type))
        for f in msgspec.structs.fields(cls)
    }


@functools.cache
def _whole_is_strict(cls: type[msgspec.Struct]) -> bool:
    """Whether msgspec refuses every unknown key of `cls` and of the Structs it holds field by field,
    so that one `msgspec.convert` accepts exactly the tables the field-by-field pass accepts."""
    if not cls.__struct_config__.forbid_unknown_fields:
        return False
    inner = {t for f in _fields_of(cls).values() for t in (f.nested, f.mapping) if t is not None}
    return all(t is cls or _whole_is_strict(t) for t in inner)


@functools.cache
def _required_of(cls: type[msgspec.Struct]) -> frozenset[str]:
    """The attribute names of a Struct's required fields."""
    return frozenset(field.info.name for field in _fields_of(cls).values() if field.info.required)


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
        self.locate = locate

    def report(self, path: str, message: str) -> None:
        line = self.locate(path) if self.locate else None
        self.problems.append(Problem(self.file, path, message, line))
