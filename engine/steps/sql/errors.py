"""Database errors as step failures: retryable when another attempt may succeed (a lost connection, a
deadlock, a server shutting down), permanent otherwise (bad SQL, a constraint, a value of the wrong
type). Every message names the step and the connector, and has the connector's secrets removed."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.engine.resources.connectors import Connector, ConnectorError
from nomaflow.engine.resources.queries import QueryError
from nomaflow.engine.steps.sql.names import BadName
from nomaflow.engine.steps.sql.types import ValueMismatch, describe_value

if TYPE_CHECKING:
    import asyncpg

# SQLSTATE classes worth another attempt: connection exceptions, transaction rollbacks (serialization,
# deadlock), insufficient resources, operator intervention (shutdown, pg_terminate_backend).
_PG_RETRYABLE_CLASSES = ("08", "40", "53", "57")
_PG_RETRYABLE_STATES = ("55P03",)  # lock_not_available
# MariaDB/MySQL: lock wait timeout, deadlock, too many connections, server shutdown, connection lost.
_MYSQL_RETRYABLE = {1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055}


def _postgres_text(exc: asyncpg.PostgresError) -> str:
    text = str(exc)
    for label, extra in (
        ("detail", exc.detail),
        ("hint", exc.hint),
        ("where", getattr(exc, "context", None)),
    ):
        if extra:
            text += f" ({label}: {extra})"
    return text


def classify(exc: BaseException) -> tuple[bool, str]:
    """(retryable, message) for an exception raised while talking to a database."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        inner = exc.orig
        exc = getattr(inner, "__cause__", None) or inner
    if isinstance(exc, ValueMismatch | QueryError | BadName | ConnectorError):
        return False, str(exc)
    # The drivers are optional extras: an error can only come from one that was imported.
    if "asyncpg" in sys.modules and (found := _postgres(exc)) is not None:
        return found
    if "asyncmy" in sys.modules and (found := _mysql(exc)) is not None:
        return found
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        return "locked" in text or "busy" in text, f"{type(exc).__name__}: {text}"
    if isinstance(exc, sa_exc.TimeoutError):
        return True, f"no free connection in the pool: {exc}"
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True, f"{type(exc).__name__}: {exc}"
    return True, f"{type(exc).__name__}: {exc}"


def _postgres(exc: BaseException) -> tuple[bool, str] | None:
    import asyncpg

    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state[:2] in _PG_RETRYABLE_CLASSES or state in _PG_RETRYABLE_STATES, _postgres_text(exc)
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # asyncpg's protocol state went wrong under it, typically when the server dropped the
        # connection while it sat idle between two fetches: a new connection will do.
        return True, f"the connection became unusable: {exc}"
    if isinstance(exc, asyncpg.InterfaceError):
        closed = "closed" in str(exc) or isinstance(exc, asyncpg.ConnectionDoesNotExistError)
        return closed, f"{type(exc).__name__}: {exc}"
    return None


def _mysql(exc: BaseException) -> tuple[bool, str] | None:
    from asyncmy import errors as mysql_errors

    if isinstance(exc, mysql_errors.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        retryable = (
            code in _MYSQL_RETRYABLE
            or isinstance(exc, mysql_errors.InterfaceError)
            # The server killed the connection while a result streamed (KILL, a restart): its last
            # packet breaks the driver's count. A new connection will do, as for a lost one.
            or (isinstance(exc, mysql_errors.InternalError) and "Packet sequence number wrong" in str(text))
        )
        return retryable, f"({code}) {text}" if code is not None else str(text)
    return None


def failure(
    exc: BaseException, *, step: str, doing: str, connectors: Sequence[Connector] = ()
) -> StepFailure:
    """The StepFailure to raise for `exc`, met while `doing` (e.g. "running query 'x' on connector 'y'")."""
    retryable, text = classify(exc)
    for connector in connectors:
        text = connector.scrub(text)
    message = f"step '{step}': {doing}: {text}"
    return StepFailure(message) if retryable else PermanentStepFailure(message)


def rejected_value(column: str, value: Any, described: str, exc: BaseException) -> str:
    """How a copy names a value that does not convert, after the row number: "column 'v': value 'twelve'
    does not fit (text -> bigint): expected a whole number"."""
    reason = str(exc) if isinstance(exc, ValueMismatch) else f"{type(exc).__name__}: {exc}"
    return f"column '{column}': value {describe_value(value)} does not fit ({described}): {reason}"
