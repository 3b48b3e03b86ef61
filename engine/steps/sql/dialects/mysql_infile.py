"""MariaDB/MySQL bulk loading: rows streamed into `LOAD DATA LOCAL INFILE` as they come, never through a
file. The server parses this text format several times faster than multi-row INSERTs.

asyncmy answers the server's "send me the file" by opening the named file. `StreamSender` replaces that
answer: it serves only the one stream the load on that connection registered under a random name, and
refuses every other name, so enabling LOCAL INFILE does not let a server read the client's files.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from nomaflow.engine.steps.sql.types import Kind

_PACKET = 256 * 1024  # a LOAD DATA data packet: well under max_allowed_packet's 16 MiB default
_STREAM = "_nomaflow_infile"  # the attribute of the asyncmy connection that holds (name, chunks)

Encode = Callable[[Any], str]


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\0" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\0", "\\0")
    return text


def _boolean(value: Any) -> str:
    return "1" if value else "0"


def _decimal(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _float(value: Any) -> str:
    return repr(float(value))


def _temporal(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return _text(value)


def _hex(value: Any) -> str:
    return bytes(value).hex()


_ENCODERS: dict[Kind, Encode] = {
    Kind.BOOLEAN: _boolean,
    Kind.SMALLINT: str,
    Kind.INTEGER: str,
    Kind.BIGINT: str,
    Kind.NUMERIC: _decimal,
    Kind.REAL: _float,
    Kind.DOUBLE: _float,
    Kind.DATE: _temporal,
    Kind.TIME: _temporal,
    Kind.TIMESTAMP: _temporal,
    Kind.TIMESTAMPTZ: _temporal,
    Kind.BINARY: _hex,  # sent as hex and decoded by the server (UNHEX): raw bytes would meet the charset
}


def encoders(kinds: Sequence[Kind]) -> list[Encode]:
    """How each column's (already converted) values are written in the load's text format."""
    return [_ENCODERS.get(kind, _text) for kind in kinds]


def load_statement(
    quote: Callable[[str], str], into: str, names: Sequence[str], kinds: Sequence[Kind], stream: str
) -> str:
    """LOAD DATA for `stream` into the table `into` (quoted), binary columns through UNHEX."""
    fields, sets = [], []
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind is Kind.BINARY:
            fields.append(f"@nf_{index}")
            sets.append(f"{quote(name)} = UNHEX(@nf_{index})")
        else:
            fields.append(quote(name))
    statement = (
        f"LOAD DATA LOCAL INFILE '{stream}' INTO TABLE {into} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
        f"({', '.join(fields)})"
    )
    return statement + (f" SET {', '.join(sets)}" if sets else "")


def stream_name() -> str:
    return f"nomaflow-stream-{secrets.token_hex(8)}"


class Encoded:
    """The rows of `batches` in the load's text format, a batch at a time; `started` once the server
    has asked for the first one."""

    def __init__(
        self,
        batches: AsyncIterator[Sequence[Sequence[Any]]],
        columns: list[Encode],
        counted: Callable[[int], None],
    ) -> None:
        self.batches, self.columns, self.counted = batches, columns, counted
        self.started = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        columns = self.columns
        async for batch in self.batches:
            lines = [
                "\t".join(
                    "\\N" if value is None else encode(value)
                    for encode, value in zip(columns, row, strict=True)
                )
                for row in batch
            ]
            yield ("\n".join(lines) + "\n").encode()
            self.counted(len(batch))


class Stream(Protocol):
    """What a load reads: chunks of the load's text format; `started` once the server asked for them."""

    started: bool

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class Refused(Exception):
    """The server refused LOAD DATA LOCAL INFILE before asking for any data (the message says why)."""


# The server's "LOCAL INFILE is disabled" errors: MySQL 5.x/MariaDB < 10.5, MySQL 8, MariaDB >= 10.5.
_REFUSED = {1148, 3948, 4166}


def refused(exc: BaseException) -> bool:
    """Whether `exc` is the server refusing LOAD DATA LOCAL INFILE (before any data was sent)."""
    return bool(exc.args) and exc.args[0] in _REFUSED


def serve(driver: Any, name: str, chunks: Stream | None) -> None:
    """Register (or, with None, remove) the stream a LOAD DATA on `driver` reads as `name`."""
    install()
    setattr(driver, _STREAM, None if chunks is None else (name, chunks))


def install() -> None:
    """Put `StreamSender` in the place of asyncmy's file sender (once per process)."""
    import asyncmy.connection as connection

    # Cython looks the name up in the module's namespace at each call, so replacing it there is enough.
    vars(connection)["LoadLocalFile"] = StreamSender


class StreamSender:
    """asyncmy's answer to the server's request for a local file (same constructor and `send_data`)."""

    def __init__(self, filename: str | bytes, connection: Any) -> None:
        self.filename = filename.decode() if isinstance(filename, bytes) else filename
        self.connection = connection

    async def send_data(self) -> None:
        from asyncmy import errors
        from asyncmy.constants.ER import FILE_NOT_FOUND

        conn = self.connection
        served = getattr(conn, _STREAM, None)
        try:
            if served is None or served[0] != self.filename:
                raise errors.OperationalError(
                    FILE_NOT_FOUND, f"nomaflow serves no local file '{self.filename}' to the server"
                )
            async for chunk in served[1]:
                for start in range(0, len(chunk), _PACKET):
                    conn.write_packet(chunk[start : start + _PACKET])
                    await conn._proto.drain()
        finally:
            conn.write_packet(b"")  # the end of the data
            await conn._proto.drain()
