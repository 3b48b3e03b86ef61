"""`search.index:rebuild`, as docs/steps/python.md's example calls it."""

from __future__ import annotations


def rebuild(full: bool = False) -> dict[str, bool]:
    return {"full": full}
