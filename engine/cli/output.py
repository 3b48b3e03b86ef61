"""How commands print data: `--output table` (the default) for people, `--output json` for scripts.

JSON is one document per command, or one object per line for a stream (`job logs --follow`), in the
REST API's shapes (engine/cli/shapes.py); docs/cli.md says which. Tables never cut a value: columns are
as wide as their widest cell and a line longer than the terminal wraps there, so a run id, a status or
a job name can always be copied whole, and a pipe gets every value in full.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from nomaflow.engine.cli.context import out
from nomaflow.engine.cli.lines import Segment


class Output(enum.StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table (for people) or json (for scripts: the REST API's shapes, see docs/cli.md).",
    ),
]

# A table cell: its text, or its text and a Rich style.
Cell = str | Segment


def print_json(document: Any) -> None:
    """One JSON document on stdout (datetimes as ISO 8601, as the REST API writes them)."""
    import msgspec

    sys.stdout.write(msgspec.json.encode(document).decode() + "\n")
    sys.stdout.flush()


def print_json_line(document: Any) -> None:
    """One object of a stream: a line of its own, flushed, so a reader sees it at once."""
    print_json(document)


def _plain() -> bool:
    """Whether stdout takes no styles (a pipe or a file, and colour not forced as Rich allows)."""
    return not sys.stdout.isatty() and not os.environ.get("FORCE_COLOR")


def print_segments(segments: Sequence[Segment]) -> None:
    if _plain():
        # What Rich would print here, without importing and running it per line: a 200-line table
        # through Rich took a tenth of a second of a `jobs list` piped into a script (issue 15).
        # Flushed as Rich does: `job logs --follow | grep` sees each line as it comes.
        sys.stdout.write("".join(text for text, _ in segments) + "\n")
        sys.stdout.flush()
        return
    from rich.text import Text

    out().print(Text.assemble(*segments))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """Columns padded to their widest cell, two spaces apart; nothing truncated."""
    lines = [[(header, "bold") for header in headers]]
    lines += [[(cell, "") if isinstance(cell, str) else cell for cell in row] for row in rows]
    widths = [max(len(line[index][0]) for line in lines) for index in range(len(headers))]
    for line in lines:
        segments: list[Segment] = []
        for index, (text, style) in enumerate(line):
            if index:
                segments.append(("  ", ""))
            # The last column is not padded: no trailing spaces in a pipe.
            segments.append((text if index == len(line) - 1 else text.ljust(widths[index]), style))
        print_segments(segments)


def print_fields(pairs: Sequence[tuple[str, Sequence[Segment] | str]]) -> None:
    """`label   value` lines, labels aligned (a run's header in `runs show`)."""
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        shown = [(value, "")] if isinstance(value, str) else list(value)
        print_segments([(f"  {label:<{width}}  ", ""), *shown])
