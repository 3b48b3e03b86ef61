"""Idempotency keys of run requests (ly2_idempotency_keys): claimed with the run id chosen up front, so
two requests racing with one key, even on two server processes, create one run. The rules around them
(who waits, what counts as the same request) are the REST API's: engine/server/api/idempotency.py."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from nomaflow.engine.store.tables import idempotency_keys as keys


class KeyClaim(NamedTuple):
    run_id: str
    fingerprint: str
    created_at: datetime
    fresh: bool  # True: this call claimed the key (for the run id it was given)


async def claim_key(
    database: AsyncEngine,
    *,
    scope: str,
    key: str,
    job: str,
    fingerprint: str,
    run_id: str,
    now: datetime,
    expired_before: datetime,
) -> KeyClaim:
    """Claim `key` in `scope` for `run_id`, or return the earlier claim that still holds it."""
    insert = postgresql.insert if database.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(keys)
        .values(
            scope=scope,
            idempotency_key=key,
            job_name=job,
            fingerprint=fingerprint,
            run_id=run_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[keys.c.scope, keys.c.idempotency_key])
        .returning(keys.c.run_id)
    )
    async with database.begin() as connection:
        # Expired keys go first, so an expired key is simply claimed anew.
        await connection.execute(delete(keys).where(keys.c.created_at < expired_before))
        if (await connection.execute(statement)).first() is not None:
            return KeyClaim(run_id, fingerprint, now, fresh=True)
        earlier = select(keys.c.run_id, keys.c.fingerprint, keys.c.created_at).where(
            keys.c.scope == scope, keys.c.idempotency_key == key
        )
        row = (await connection.execute(earlier)).one()
    return KeyClaim(row.run_id, row.fingerprint, row.created_at, fresh=False)


async def release_key(database: AsyncEngine, *, scope: str, key: str, run_id: str) -> None:
    """Give `key` back, if it is still claimed for `run_id`."""
    async with database.begin() as connection:
        await connection.execute(
            delete(keys).where(keys.c.scope == scope, keys.c.idempotency_key == key, keys.c.run_id == run_id)
        )
