"""What running/ and scheduling/ ask of the engine around them, as narrow Protocols.

Hooks, crash recovery, resumption and catch-up each take only the parts they use (a few of the store's
reads, the way to start a run, the way to run background work), never the whole `Engine`: so none of
them imports engine.py, and each can be read (and driven) without it. `Engine` and `SqlStore` have
these shapes; nothing needs to declare that it implements them.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from nomaflow.engine.store.rows import LogRow, RunRow, StepRow


class RunRecords(Protocol):
    """The store's reads of one recorded run."""

    async def get_run(self, run_id: str) -> RunRow | None: ...

    async def get_steps(self, run_id: str) -> Sequence[StepRow]: ...

    async def get_logs(self, run_id: str) -> Sequence[LogRow]: ...


class Started(Protocol):
    """A run once dispatched (a `RunHandle`): admitted (`running`) or recorded as `skipped`."""

    @property
    def run_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    async def wait(self) -> object:
        """Return once the run has ended."""
        ...


class Trigger(Protocol):
    """`Engine.trigger`: the one way a run begins, with the options the engine's own triggers use."""

    async def __call__(
        self,
        job: str,
        params: Mapping[str, Any] | None = None,
        *,
        triggered_by: str = "api",
        scheduled_for: datetime | None = None,
        check_params: bool = True,
    ) -> Started: ...


class Retry(Protocol):
    """`Engine.retry`: a failed or aborted run again, from its first step that did not succeed."""

    async def __call__(self, run_id: str, *, triggered_by: str = "api") -> Started: ...


class Spawn(Protocol):
    """`Engine.spawn`: run background work in the engine's task group, its errors logged and contained."""

    def __call__(self, work: Coroutine[Any, Any, None], *, name: str) -> None: ...
