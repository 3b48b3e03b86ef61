"""What a database error means for the write that met it: a value the database cannot hold (escape it
and write again), a store that cannot take writes now (wait and retry the same write), or anything else
(that write's caller alone hears of it).

Drivers wrap each other's errors (SQLAlchemy around asyncpg's and sqlite3's; asyncpg around a
UnicodeEncodeError), so each test looks through the whole chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

# SQLSTATEs of a value PostgreSQL cannot hold: NUL in text (22021), \u0000 in jsonb (22P05).
_UNSTORABLE_STATES = frozenset({"22021", "22P05"})
# SQLSTATE classes and codes of a server that cannot take writes now: connection exceptions (08),
# insufficient resources such as a full disk (53), operator intervention such as a shutdown or a
# server still starting (57), system errors such as I/O (58), and a read-only transaction (25006,
# a standby or a server set read-only during a failover).
_TRANSIENT_CLASSES = frozenset({"08", "53", "57", "58"})
_TRANSIENT_STATES = frozenset({"25006"})
# SQLite's primary result codes for a file that cannot be written now: busy, locked, read-only, I/O
# error, full, cannot open, lock protocol.
_SQLITE_TRANSIENT = frozenset({5, 6, 8, 10, 13, 14, 15})


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, what it wraps (SQLAlchemy's `orig`), what caused it, and so on; each once."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _sqlstate(error: BaseException) -> str:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else ""


def unstorable_value(error: BaseException) -> bool:
    """Whether `error` says a value of the write holds text the database cannot hold (NUL for
    PostgreSQL, a lone surrogate for either)."""
    for cause in _chain(error):
        if isinstance(cause, UnicodeEncodeError) or _sqlstate(cause) in _UNSTORABLE_STATES:
            return True
        if _sqlstate(cause) == "22000" and "surrogates not allowed" in str(cause):
            return True  # asyncpg's wording for an argument it could not encode
    return False


def transient_reason(error: BaseException) -> str | None:
    """If `error` says the store cannot take writes now (unreachable, restarting, full, read-only,
    locked), a short reason for operators; else None (the error is the write's own)."""
    for cause in _chain(error):
        state = _sqlstate(cause)
        if state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES:
            return _one_line(cause)
        if isinstance(cause, sqlite3.Error) and not isinstance(cause, sqlite3.IntegrityError):
            code = getattr(cause, "sqlite_errorcode", None)
            if isinstance(code, int) and (code & 0xFF) in _SQLITE_TRANSIENT:
                return f"SQLite: {_one_line(cause)}"
        if getattr(cause, "connection_invalidated", False):
            return _one_line(cause)
        if isinstance(cause, OSError | TimeoutError):
            return _one_line(cause) or type(cause).__name__
        if _lost_connection(cause):
            return _one_line(cause)
    return None


def _lost_connection(error: BaseException) -> bool:
    """asyncpg's errors for a connection that went away under a query: not PostgreSQL's errors, so no
    SQLSTATE (matched by name, so this module needs no driver)."""
    name = type(error).__name__
    if name == "ConnectionDoesNotExistError":
        return True
    return name == "InterfaceError" and "connection" in str(error) and "closed" in str(error)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] if text else type(error).__name__
