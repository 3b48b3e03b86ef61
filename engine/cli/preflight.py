"""Before `nomaflow serve` starts: can the job store be opened, migrated and written? A store that
cannot (a read-only SQLite file or folder, a PostgreSQL standby, a wrong URL) is one clear message and
exit code 1, instead of a traceback out of the server's start-up or a server that fails its first run."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from nomaflow.engine.store import StoreUnusable, create_engine, open_store


async def store_problem(url: str) -> str | None:
    """What stops the engine from writing to the job store at `url`, or None. A store that cannot be
    written or reached for now (read-only, full, down) is said in one paragraph naming it and what to
    do (engine/store/opening.py); any other refusal by the database's own words."""
    try:
        engine = create_engine(url)
    except StoreUnusable as exc:  # e.g. its driver is not installed
        return str(exc)
    try:
        await open_store(engine)
    except StoreUnusable as exc:
        return str(exc)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        shown = make_url(url).render_as_string(hide_password=True)
        return f"cannot use the job store {shown}: {reason}"
    finally:
        await engine.dispose()
    return None
