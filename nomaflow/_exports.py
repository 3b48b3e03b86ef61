"""Public names that a package's `__init__` imports on first use (PEP 562), so that importing the
package costs nothing until a name is asked for: `nomaflow --help` must not load the engine, and a
reader of runs must not load the writer.

Each lazy package keeps its map of name -> defining module, and a TYPE_CHECKING block that tells type
checkers what the names are, then ends with

    __getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, public: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package`, whose `public` names (name ->
    module that defines it) are imported when first looked up."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = public.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value  # later lookups find it and skip this function
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *public])

    return __getattr__, __dir__
