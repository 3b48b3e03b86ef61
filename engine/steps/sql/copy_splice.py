"""Rewrites a PostgreSQL binary COPY stream on its way from one server to the other, converting only the
columns that need Python: every field is a 4-byte length and its bytes, so the fields of the other
columns are copied through as bytes, never decoded. Decoding all of a row's columns into Python objects
and encoding them again costs several times more than this walk over the field lengths.

The format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"): a header, then each
row as a 16-bit field count and its fields (length -1 for NULL), then a 16-bit -1.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nomaflow.engine.steps.sql.copy_codecs import Decode, Encode
from nomaflow.engine.steps.sql.errors import rejected_value
from nomaflow.engine.steps.sql.types import Convert, describe_value

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = struct.Struct(">11sII")  # signature, flags, length of the header extension
_HAS_OIDS = 1 << 16
_INT16 = struct.Struct(">h").unpack_from
_INT32 = struct.Struct(">i").unpack_from
_LENGTH = struct.Struct(">i").pack
TRAILER = b"\xff\xff"

# Fields this short share a cache of their conversions: a boolean, a status code or a date column has few
# distinct values, and every conversion in the type map is a pure function of its value. The bound keeps
# the cache small (under a MiB) whatever the column holds.
_CACHED_SIZE = 16
_CACHED_VALUES = 1024

_FAILURES = (ValueError, TypeError, ArithmeticError, struct.error)  # what a bad value raises on the way


class BrokenStream(Exception):
    """The source's COPY data is not binary COPY as expected (cut short, or rows of another width)."""


class RowRejected(Exception):
    """A field that cannot be converted; the message names the row, the column and the value."""


@dataclass(frozen=True)
class Recode:
    """How the fields of one column are converted: read as the source type, converted by the type map,
    written as the target type."""

    column: str
    described: str  # "boolean -> text", for error messages
    decode: Decode
    convert: Convert | None  # None when only the binary form differs (bigint into integer)
    encode: Encode

    def transcoder(self) -> Callable[[bytes], bytes]:
        """A non-NULL field's bytes (its length not included) to the target's field, length included."""
        decode, convert, encode = self.decode, self.convert, self.encode

        def transcode(raw: bytes) -> bytes:
            value = decode(raw)
            encoded = encode(value if convert is None else convert(value))
            return _LENGTH(len(encoded)) + encoded

        cached = functools.lru_cache(maxsize=_CACHED_VALUES)(transcode)

        def field(raw: bytes) -> bytes:
            return cached(raw) if len(raw) <= _CACHED_SIZE else transcode(raw)

        return field

    def explain(self, raw: bytes, exc: BaseException) -> str:
        """Why `raw` does not convert, found again step by step (the error path only)."""
        try:
            value = self.decode(raw)
        except _FAILURES as error:
            return (
                f"column '{self.column}': cannot read the value {describe_value(raw)} ({self.described}): "
                f"{type(error).__name__}: {error}"
            )
        try:
            self.encode(value if self.convert is None else self.convert(value))
        except _FAILURES as error:
            exc = error
        return rejected_value(self.column, value, self.described, exc)


class _Incomplete(Exception):
    """The chunk ends inside a row: the rest of it comes with the next chunk."""


class CopyRewriter:
    """Feeds on the source's COPY data, chunk by chunk, and returns the target's. `columns` has an entry for
    each column: None for a field copied as it is, a Recode for one converted."""

    def __init__(self, columns: Sequence[Recode | None]) -> None:
        self.rows = 0  # complete rows seen so far
        self._columns = list(columns)
        self._fields = tuple(None if c is None else c.transcoder() for c in columns)
        self._carry = b""  # the start of a row cut by the end of the previous chunk
        self._started = False  # header seen
        self._ended = False  # trailer seen

    def feed(self, chunk: bytes | bytearray) -> bytes:
        """The target's COPY data for every complete row in what has come so far (and the header and
        trailer as they come)."""
        buf = self._carry + chunk if self._carry else bytes(chunk)  # bytes: slices are cache keys
        pos = 0
        if not self._started:
            pos = self._header(buf)
            if pos < 0:
                self._carry = buf
                return b""
        if self._ended:
            if buf:
                raise BrokenStream("COPY data after its end marker")
            return b""
        pieces: list[bytes] = []
        piece = pieces.append
        fields, width, end = self._fields, len(self._fields), len(buf)
        mark = 0  # buf[mark:pos] is still to be copied out as it is
        rows = 0
        row = kept = row_mark = 0  # where the current row started, in buf and in pieces
        # The walk costs a few hundred nanoseconds a field: this loop is the whole cost of a spliced copy,
        # so it stays flat (local names, no call per spliced field).
        try:
            while pos < end:
                row, kept, row_mark = pos, len(pieces), mark
                (count,) = _INT16(buf, pos)
                if count != width:
                    if count == -1:
                        pos += 2
                        self._ended = True
                        if pos != end:
                            raise BrokenStream("COPY data after its end marker")
                        break
                    raise BrokenStream(f"a row of {count} fields in COPY data of {width} columns")
                p = pos + 2
                for field in fields:
                    (n,) = _INT32(buf, p)
                    if field is None or n < 0:
                        p += 4 + n if n > 0 else 4
                        continue
                    q = p + 4 + n
                    if q > end:
                        raise _Incomplete
                    try:
                        converted = field(buf[p + 4 : q])
                    except _FAILURES as exc:
                        raise self._rejected(buf, pos, p, self.rows + rows + 1, exc) from None
                    piece(buf[mark:p])
                    piece(converted)
                    p = mark = q
                if p > end:
                    raise _Incomplete
                pos = p
                rows += 1
        except (_Incomplete, struct.error):
            # Undo what the cut row added; it starts the next chunk.
            del pieces[kept:]
            mark, pos = row_mark, row
        piece(buf[mark:pos])
        self._carry = buf[pos:]
        self.rows += rows
        return b"".join(pieces)

    def finish(self) -> None:
        """Check that the data ended where binary COPY ends: after the trailer, not inside a row."""
        if not self._ended or self._carry:
            raise BrokenStream("the COPY data stopped before its end marker")

    def _header(self, buf: bytes) -> int:
        """Where the rows start, or -1 if the header is not all there yet. The header goes out as it is."""
        if len(buf) < _HEADER.size:
            return -1
        signature, flags, extension = _HEADER.unpack_from(buf)
        if signature != SIGNATURE:
            raise BrokenStream("not binary COPY data (no PGCOPY signature)")
        if flags & _HAS_OIDS:
            raise BrokenStream("binary COPY data with OIDs")
        start: int = _HEADER.size + extension
        if len(buf) < start:
            return -1
        self._started = True
        return start

    def _rejected(self, buf: bytes, row: int, at: int, number: int, exc: BaseException) -> RowRejected:
        # Which column: walk the row's fields again up to the one that failed.
        p, index = row + 2, 0
        while p < at:
            (n,) = _INT32(buf, p)
            p += 4 + n if n > 0 else 4
            index += 1
        column = self._columns[index]
        assert column is not None
        (n,) = _INT32(buf, at)
        return RowRejected(f"row {number}, {column.explain(buf[at + 4 : at + 4 + n], exc)}")
