"""An install for engine tests: the test plugin folder, and the job store under test as `default`."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from nomaflow.engine.config import Install, load_install

PLUGINS = Path(__file__).parent / "plugins"
# Tests import the plugin under the same name the engine does ("enginejobs"), so both share its gates.
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))


async def reached(name: str, within: float = 10) -> None:
    """Wait (in a thread, bounded) until a step has passed the gate named `name`."""
    from enginejobs.steps import gate

    assert await anyio.to_thread.run_sync(gate(name).wait, within), f"no step reached {name!r}"


def gate_of(name: str) -> threading.Event:
    """The gate a step of the test plugin waits on (`block_until`), to open it from the test."""
    from enginejobs.steps import gate

    event: threading.Event = gate(name)
    return event


def make_install(root: Path, database_url: str, extra: str = "") -> Install:
    (root / "app.toml").write_text(
        f'[connectors.default]\nurl = "{database_url}"\n\n[jobs]\nplugins = "{PLUGINS}"\n'
        f"shutdown_grace_seconds = 5\n{extra}"
    )
    return load_install(root / "app.toml")


def quiet_install(install: Install) -> Install:
    """The install with heartbeats and leadership checks an hour apart, so that in tests driving a
    ManualClock the deadline that matters is the scheduler's."""
    install.settings.jobs.heartbeat_seconds = 3600
    install.settings.jobs.leader_renew_seconds = 3600
    return install


async def until(condition: Callable[[], bool], within: float = 10) -> None:
    """Let the engine's tasks run until `condition` holds (checked at every turn of the event loop)."""
    with anyio.fail_after(within):
        # Yields to the loop, not to time: the condition flips when the engine's tasks move.
        while not condition():
            await anyio.lowlevel.checkpoint()
            # And hands over the GIL: a loop that only spins keeps it for the whole switch interval
            # (5 ms) at a time, so SQLite's driver thread, which needs it for every call, crawls (a
            # 1 ms query took seconds). sched_yield waits for nothing; it only lets that thread in.
            os.sched_yield()


@pytest.fixture
def install(database_url: str, tmp_path: Path) -> Install:
    return make_install(tmp_path, database_url)
