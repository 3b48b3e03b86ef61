"""The store contract tests' fixtures: the same tests on SQLite, PostgreSQL and the fake store of the
actor tests (tests/fakes.py), so the fake cannot drift from what the real store does. A module takes
them with `from tests.engine.store.contract import database_kind`; the `store` fixture of this folder
(conftest.py) then gives the fake for "memory"."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "memory"])
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind
