"""`search.tasks:reindex`, as docs/configuration.md's job defined in Python calls it."""

from __future__ import annotations


def reindex() -> dict[str, bool]:
    return {"reindexed": True}
