"""The binary COPY rewriter of spliced copies, on hand-made streams: untouched fields pass byte for byte,
converted ones are re-encoded, whatever the chunking, and bad values name their row and column."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from nomaflow.engine.steps.sql.copy_codecs import decoder, encoder
from nomaflow.engine.steps.sql.copy_splice import (
    SIGNATURE,
    TRAILER,
    BrokenStream,
    CopyRewriter,
    Recode,
    RowRejected,
)
from nomaflow.engine.steps.sql.types import ValueMismatch, parse_postgres
from nomaflow.engine.steps.sql.values import converter

Row = tuple[bytes | None, ...]
HEADER = SIGNATURE + bytes(8)  # no flags, no header extension


def stream(rows: list[Row], header: bytes = HEADER) -> bytes:
    """Binary COPY data of `rows` (each field given as its bytes, or None for NULL)."""
    out = [header]
    for row in rows:
        out.append(len(row).to_bytes(2, "big"))
        for field in row:
            out.append(b"\xff\xff\xff\xff" if field is None else len(field).to_bytes(4, "big") + field)
    out.append(TRAILER)
    return b"".join(out)


def rows_of(data: bytes) -> list[Row]:
    """The rows of binary COPY data, read back."""
    assert data.startswith(HEADER) and data.endswith(TRAILER)
    rows, pos = [], len(HEADER)
    while pos < len(data) - 2:
        count = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        row: list[bytes | None] = []
        for _ in range(count):
            n = int.from_bytes(data[pos : pos + 4], "big", signed=True)
            pos += 4
            row.append(None if n < 0 else data[pos : pos + n])
            pos += max(n, 0)
        rows.append(tuple(row))
    return rows


def recode(column: str, have: str, wanted: str, **changes: Any) -> Recode:
    source, target = parse_postgres(have), parse_postgres(wanted)
    decode, encode = decoder(source), encoder(target)
    assert decode is not None and encode is not None
    parts: dict[str, Any] = {
        "column": column,
        "described": f"{have} -> {wanted}",
        "decode": decode,
        "convert": converter(source.kind, target.kind) if source.kind is not target.kind else None,
        "encode": encode,
        **changes,
    }
    return Recode(**parts)


def rewrite(rewriter: CopyRewriter, data: bytes, cuts: list[int]) -> bytes:
    """Feed `data` cut at `cuts` (offsets) and check it ends cleanly; the whole output."""
    out, start = [], 0
    for cut in [*cuts, len(data)]:
        out.append(rewriter.feed(bytearray(data[start:cut])))  # asyncpg hands over bytearrays
        start = cut
    rewriter.finish()
    return b"".join(out)


def big(n: int) -> bytes:
    return n.to_bytes(8, "big", signed=True)


SOURCE: list[Row] = [
    (big(1), b"ann", b"\x01"),
    (big(2), None, b"\x00"),
    (None, b"cy", None),
    (big(-4), "Zoë ✓".encode(), b"\x01"),
]


def flag_to_text() -> CopyRewriter:
    return CopyRewriter([None, None, recode("flag", "boolean", "text")])


def test_untouched_fields_pass_byte_for_byte_and_converted_ones_are_reencoded() -> None:
    rewriter = flag_to_text()
    out = rewrite(rewriter, stream(SOURCE), [])
    assert rows_of(out) == [
        (big(1), b"ann", b"true"),
        (big(2), None, b"false"),
        (None, b"cy", None),
        (big(-4), "Zoë ✓".encode(), b"true"),
    ]
    assert rewriter.rows == 4


def test_every_chunking_gives_the_same_output() -> None:
    data = stream(SOURCE)
    whole = rewrite(flag_to_text(), data, [])
    for cut in range(1, len(data)):
        assert rewrite(flag_to_text(), data, [cut]) == whole, f"cut at {cut}"
    assert rewrite(flag_to_text(), data, list(range(1, len(data)))) == whole  # a byte at a time


def test_several_converted_columns_first_and_last_included() -> None:
    rewriter = CopyRewriter(
        [
            recode("id", "bigint", "integer"),  # only the binary form differs
            None,
            recode("amount", "text", "numeric"),
            recode("flag", "boolean", "text"),
        ]
    )
    data = stream(
        [
            (big(7), b"x", b" 12.50 ", b"\x01"),
            (None, None, None, None),
            (big(-8), b"", b"-3", b"\x00"),
        ]
    )
    out = rows_of(rewrite(rewriter, data, [len(data) // 2]))
    numeric = encoder(parse_postgres("numeric"))
    assert numeric is not None
    assert out == [
        ((7).to_bytes(4, "big"), b"x", numeric(Decimal("12.50")), b"true"),
        (None, None, None, None),
        ((-8).to_bytes(4, "big", signed=True), b"", numeric(Decimal("-3")), b"false"),
    ]


def test_an_empty_source_is_its_header_and_trailer() -> None:
    rewriter = flag_to_text()
    assert rewrite(rewriter, stream([]), [5]) == stream([])
    assert rewriter.rows == 0


def test_a_value_that_does_not_convert_names_its_row_and_column() -> None:
    rewriter = CopyRewriter([None, recode("v", "text", "bigint")])
    first = stream([(big(1), b"1"), (big(2), b"2")])[:-2]  # two rows, then the rest in the next chunk
    rest = stream([(big(3), b"3"), (big(4), b"twelve")], header=b"")
    rewriter.feed(first)
    with pytest.raises(RowRejected) as caught:
        rewriter.feed(rest)
    assert str(caught.value) == (
        "row 4, column 'v': value 'twelve' does not fit (text -> bigint): expected a whole number"
    )


def test_a_value_the_target_type_cannot_hold_names_its_row_and_column() -> None:
    rewriter = CopyRewriter([recode("n", "bigint", "smallint"), None])
    with pytest.raises(RowRejected) as caught:
        rewriter.feed(stream([(big(1), b"a"), (big(40000), b"b")]))
    assert str(caught.value) == (
        "row 2, column 'n': value 40000 does not fit (bigint -> smallint): "
        "expected a whole number from -32768 to 32767 (smallint)"
    )


def test_a_value_that_cannot_be_read_names_its_row_and_column() -> None:
    rewriter = CopyRewriter([recode("v", "text", "bigint")])
    with pytest.raises(RowRejected) as caught:
        rewriter.feed(stream([(b"\xff\xfe",)]))
    assert str(caught.value).startswith(
        "row 1, column 'v': cannot read the value b'\\xff\\xfe' (text -> bigint): UnicodeDecodeError"
    )


def test_short_values_are_converted_once_and_failures_every_time() -> None:
    calls: list[bytes] = []
    plain = recode("flag", "boolean", "text")

    def counted(raw: bytes) -> Any:
        calls.append(raw)
        return plain.decode(raw)

    rewriter = CopyRewriter([recode("flag", "boolean", "text", decode=counted)])
    rewriter.feed(stream([(b"\x01",), (b"\x00",)] * 50))
    assert sorted(calls) == [b"\x00", b"\x01"]

    field = recode("v", "text", "bigint").transcoder()
    for _ in range(2):
        with pytest.raises(ValueMismatch):
            field(b"x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PGCOPX\n\xff\r\n\x00" + bytes(8) + TRAILER, "no PGCOPY signature"),
        (SIGNATURE + b"\x00\x01\x00\x00" + bytes(4) + TRAILER, "with OIDs"),
        (stream([(big(1), b"a")]), "a row of 2 fields in COPY data of 3 columns"),
        (stream(SOURCE) + b"\x00", "after its end marker"),
    ],
)
def test_data_that_is_not_binary_copy_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(BrokenStream, match=message):
        flag_to_text().feed(data)


def test_data_cut_short_is_refused_at_the_end() -> None:
    rewriter = flag_to_text()
    data = stream(SOURCE)
    rewriter.feed(data[:-7])
    with pytest.raises(BrokenStream, match="stopped before its end marker"):
        rewriter.finish()
