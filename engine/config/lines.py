"""Find the line of a field path like `jobs[1].steps[0].type` in a TOML file, for error messages.

tomllib keeps no positions, so this walks the text: array-of-tables headers are counted, then the key
is looked for inside the matching section. It is a best effort: it returns the closest line it can
place, or None.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_SEGMENT = re.compile(r"([A-Za-z0-9_\-]+)(?:\[(\d+)\])?")


class LineLocator:
    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        # (line number, dotted header name, is_array) for every table header
        self._headers: list[tuple[int, str, bool]] = []
        for number, line in enumerate(self._lines, start=1):
            match = _HEADER.match(line)
            if match:
                name = match.group(1).replace(" ", "").replace('"', "")
                self._headers.append((number, name, line.strip().startswith("[[")))

    def __call__(self, path: str) -> int | None:
        segments = [(m.group(1), m.group(2)) for m in _SEGMENT.finditer(path)]
        start, end, table = 1, len(self._lines) + 1, ""
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
            return best
        return best

    def _nth_header(self, name: str, n: int, start: int, end: int, *, array: bool = True) -> int | None:
        count = 0
        for number, header, is_array in self._headers:
            if start <= number < end and header == name and is_array == array:
                if count == n:
                    return number
                count += 1
        return None

    def _section_end(self, header_line: int, name: str) -> int:
        """The line where the section opened at `header_line` ends: the next header not nested in it."""
        for number, header, _ in self._headers:
            if number > header_line and (header == name or not header.startswith(name + ".")):
                return number
        return len(self._lines) + 1

    def _key_line(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        # Keys directly in this section only: stop at the first header after the section's own.
        stop = next((n for n, _, _ in self._headers if start < n < end), end)
        for number in range(start, min(stop, len(self._lines) + 1)):
            if pattern.match(self._lines[number - 1]):
                return number
        return None
