"""Find the line of a field path like `jobs[1].steps[0].type` in a TOML file, for error messages.

tomllib keeps no positions, so this walks the text: array-of-tables headers are counted, then the key
is looked for inside the matching section. It is a best effort: it returns the closest line it can
place, or None.
"""

from __future__ import annotations

import bisect
import functools
import re

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_SEGMENT = re.compile(r"([A-Za-z0-9_\-]+)(?:\[(\d+)\])?")


class LineLocator:
    """Lines of field paths in one TOML text. The text is only indexed when a first path is looked
    up: a file without problems (the usual case, and 10,000 jobs long at times) is never scanned."""

    def __init__(self, text: str) -> None:
        self._text = text

    @functools.cached_property
    def _index(self) -> _Index:
        return _Index(self._text)

    def __call__(self, path: str) -> int | None:
        return self._index.locate(path)


class _Index:
    """Every table header of a text, indexed so that placing one path costs a few binary searches
    rather than a walk over every header: a file with 10,000 jobs and a problem in each stays linear."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # Line numbers of every table header, ascending; and of each (dotted name, is_array) alike.
        self.numbers: list[int] = []
        self.names: list[str] = []
        self.by_name: dict[tuple[str, bool], list[int]] = {}
        for number, line in enumerate(self.lines, start=1):
            match = _HEADER.match(line)
            if match:
                name = match.group(1).replace(" ", "").replace('"', "")
                self.numbers.append(number)
                self.names.append(name)
                self.by_name.setdefault((name, line.strip().startswith("[[")), []).append(number)

    def locate(self, path: str) -> int | None:
        segments = [(m.group(1), m.group(2)) for m in _SEGMENT.finditer(path)]
        start, end, table = 1, len(self.lines) + 1, ""
        best: int | None = None
        for key, index in segments:
            name = f"{table}.{key}" if table else key
            if index is not None:
                found = self._nth_header(name, int(index), start, end)
                if found is None:
                    return best
                start, end, table = found, self._section_end(found, name), name
                best = found
                continue
            header = self._nth_header(name, 0, start, end, array=False)
            if header is not None:
                start, end, table = header, self._section_end(header, name), name
                best = header
                continue
            line = self._key_line(key, start, end)
            if line is not None:
                return line
            if self._has_nested(name, start, end):
                # `[auth.users.ann]` with no `[auth]` or `[auth.users]` above it: go on down the path.
                table = name
                continue
            return best
        return best

    def _has_nested(self, name: str, start: int, end: int) -> bool:
        """Whether a header of a table inside `name` lies within lines [start, end)."""
        nested = name + "."
        first = bisect.bisect_left(self.numbers, start)
        return any(
            self.names[at].startswith(nested) for at in range(first, bisect.bisect_left(self.numbers, end))
        )

    def _nth_header(self, name: str, n: int, start: int, end: int, *, array: bool = True) -> int | None:
        """The line of the n-th header `name` (0 is the first) within lines [start, end)."""
        numbers = self.by_name.get((name, array), [])
        at = bisect.bisect_left(numbers, start) + n
        return numbers[at] if at < len(numbers) and numbers[at] < end else None

    def _section_end(self, header_line: int, name: str) -> int:
        """The line where the section opened at `header_line` ends: the next header not nested in it."""
        nested = name + "."
        for at in range(bisect.bisect_right(self.numbers, header_line), len(self.numbers)):
            header = self.names[at]
            if header == name or not header.startswith(nested):
                return self.numbers[at]
        return len(self.lines) + 1

    def _key_line(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        # Keys directly in this section only: stop at the first header after the section's own.
        after = bisect.bisect_right(self.numbers, start)
        stop = self.numbers[after] if after < len(self.numbers) and self.numbers[after] < end else end
        for number in range(start, min(stop, len(self.lines) + 1)):
            if pattern.match(self.lines[number - 1]):
                return number
        return None
