"""No-op steps for benchmarks/dispatch.py. They are async so they run on the loop, as most steps do.

`probe` is how the benchmark and its steps meet: the plugin module is imported by the engine under the
same name the benchmark imports it, so both see the one instance.
"""

from __future__ import annotations

import time

import anyio


class Probe:
    """What the steps report to the benchmark: when steps started, and a gate that holds steps open."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.entered = 0
        self.all_entered = anyio.Event()
        self.expected = 0
        self.release = anyio.Event()

    def reset(self, expected: int = 0) -> None:
        """Call on the event loop before each measurement."""
        self.starts = []
        self.entered = 0
        self.expected = expected
        self.all_entered = anyio.Event()
        self.release = anyio.Event()


probe = Probe()


async def noop() -> None:
    return None


async def mark_start() -> None:
    probe.starts.append(time.perf_counter())


async def hold() -> None:
    """Wait (in flight, on the loop) until the benchmark releases every held step."""
    probe.entered += 1
    if probe.entered >= probe.expected:
        probe.all_entered.set()
    await probe.release.wait()
