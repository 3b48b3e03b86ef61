"""Steps for the outage tests."""

from __future__ import annotations

import time
from pathlib import Path

from nomaflow.actors import StepContext


def tick(ctx: StepContext) -> dict[str, str]:
    return {"job": ctx.job}


def ignore_cancellation(path: str, ctx: StepContext) -> dict[str, str]:
    print(f"waiting for {path}, whatever happens", flush=True)  # in the process's output, for the test
    # Another process creates the file; this step never looks at ctx.cancelled, on purpose.
    while not Path(path).exists():
        time.sleep(0.05)
    return {"seen": path}
