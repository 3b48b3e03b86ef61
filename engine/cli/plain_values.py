"""Typer (0.29) checks every option and argument through a pydantic TypeAdapter it builds on first use,
even an option left at its default: that imports pydantic and builds a dozen adapters, a good part of
a command's start-up (issue 15). Where the adapter would hand the value back unchanged, it is skipped:
an option not given (None), an empty repeatable option, a text argument, a path, or a default from our own
code that already has its declared type. Any other value goes through Typer's adapter, built then, so
errors and conversions are Typer's own. If Typer's internals are not the ones this knows, it does
nothing and Typer works as it always does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_origin


class _PlainFirst:
    """Stands in for a parameter's runtime coercion until a value needs the real one."""

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        annotation = param.type_descriptor.annotation
        repeatable = param.multiple or param.nargs == -1
        if value is None:
            return () if repeatable else None
        if annotation is str and type(value) is str:
            return value
        if annotation is Path and type(value) is str and value:
            # What Typer makes of a path option that asks for no checks (--config): the Path itself.
            return Path(value)
        from_default = getattr(ctx.get_parameter_source(param.name), "name", None) == "DEFAULT"
        if from_default and get_origin(annotation) is list and value in ((), []):
            return []
        if (
            from_default
            and not repeatable
            and isinstance(annotation, type)
            and annotation is not bool
            and isinstance(value, annotation)
        ):
            return value
        from typer._coercion import build_runtime_param

        param._runtime_param = build_runtime_param(param.type_descriptor)
        return param._runtime_param.coerce(value, param=param, ctx=ctx)


_PLAIN_FIRST = _PlainFirst()


def skip_identity_checks() -> None:
    """Have every Typer parameter (help options included) start with the stand-in: Typer asks for a
    parameter's coercion through one method, which builds it when none was made yet."""
    try:
        from typer.core import _TyperParameter
    except ImportError:  # another Typer: left as it is
        return
    real = getattr(_TyperParameter, "get_runtime_param", None)
    if real is None or getattr(real, "plain_first", False):
        return

    def get_runtime_param(self: Any) -> Any:
        made = getattr(self, "_runtime_param", None)
        return _PLAIN_FIRST if made is None else made

    get_runtime_param.plain_first = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
