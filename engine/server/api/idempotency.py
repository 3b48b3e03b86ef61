"""`Idempotency-Key` for POST /admin/jobs/{name}/run: the same key (from the same token subject) gets
the same run back instead of a second one, for `[server] idempotency_hours` (24 by default).

The key is claimed in ly2_idempotency_keys, with the run id chosen up front, *before* the run is
dispatched; so two requests racing with one key (even on two server processes) create one run. A
request that finds its key claimed but the run not yet recorded waits for it in this process, or is
told 409 (retry) when the first request is being served by another process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import msgspec

from nomaflow.actors.ports import Clock
from nomaflow.engine.store.sql_store import SqlStore

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    run_id: str
    fingerprint: str
    created_at: datetime
    fresh: bool  # True: this request claimed the key and must dispatch the run


def fingerprint(job: str, params: Mapping[str, Any], dry_run: bool) -> str:
    """What makes two requests "the same" for one key."""
    encoded = msgspec.json.encode({"job": job, "params": dict(params), "dry_run": dry_run}, order="sorted")
    return hashlib.sha256(encoded).hexdigest()


class IdempotencyKeys:
    def __init__(self, store: SqlStore, clock: Clock, *, hours: float) -> None:
        self._store = store
        self._clock = clock
        self.lifetime = timedelta(hours=hours)
        self._pending: dict[tuple[str, str], anyio.Event] = {}

    async def claim(self, scope: str, key: str, job: str, print_: str, run_id: str) -> Claim:
        """Claim `key` for `run_id`, or return the earlier, still valid claim."""
        now = self._clock.now()
        found = await self._store.claim_idempotency_key(
            scope=scope,
            key=key,
            job=job,
            fingerprint=print_,
            run_id=run_id,
            now=now,
            expired_before=now - self.lifetime,
        )
        if found.fresh:
            self._pending[(scope, key)] = anyio.Event()
        return Claim(
            run_id=found.run_id, fingerprint=found.fingerprint, created_at=found.created_at, fresh=found.fresh
        )

    def settled(self, scope: str, key: str) -> None:
        """The claiming request has recorded its run (or given the key back)."""
        pending = self._pending.pop((scope, key), None)
        if pending is not None:
            pending.set()

    async def release(self, scope: str, key: str, run_id: str) -> None:
        """Give the key back: the run it was claimed for could not be dispatched."""
        await self._store.release_idempotency_key(scope=scope, key=key, run_id=run_id)
        self.settled(scope, key)

    async def wait_settled(self, scope: str, key: str, seconds: float) -> bool:
        """Wait for this process's request holding `key` to record its run; False if another process
        holds it (or it took longer than `seconds`)."""
        pending = self._pending.get((scope, key))
        if pending is None:
            return False
        with anyio.move_on_after(seconds):
            await pending.wait()
            return True
        return False
