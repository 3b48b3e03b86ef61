"""Named queries: `plugins/<app>/queries/*.sql` files cut into blocks by `-- name: <query-name>` lines.

A step names a query as `"<name>"` or `"<app>/<name>"` (needed only when two apps use the same name),
followed by `:read` or `:write` where the step asks for it. Queries take `:param` placeholders, which are
always sent to the database as bound parameters, in each driver's own style, and never pasted into the
SQL text. A block holds one statement; the files are read once, when the configuration loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.resources.connectors import Dialect

if TYPE_CHECKING:
    from nomaflow.engine.steps.base import StepEnvironment

Mode = Literal["read", "write"]

_MARKER = re.compile(r"^\s*--\s*name\s*:\s*(?P<name>\S*)\s*$")
_QUERY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class QueryError(Exception):
    """A query reference or a query's parameters that cannot be used; the message says why."""


# --- the SQL text: where its parameters are -------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """SQL cut at its `:param` placeholders: `parts[i]` comes before `names[i]`, then the last part."""

    parts: tuple[str, ...]
    names: tuple[str, ...]
    statements: int  # how many statements the text holds (one is expected)

    @property
    def params(self) -> list[str]:
        """Distinct parameter names, in order of first use."""
        return list(dict.fromkeys(self.names))

    def render(self, dialect: Dialect, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL in the driver's placeholder style, and the values in placeholder order."""
        missing = [name for name in self.params if name not in values]
        if missing:
            raise QueryError(f"no value for parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        sql: list[str] = []
        args: list[Any] = []
        numbers: dict[str, int] = {}
        for index, part in enumerate(self.parts):
            # pymysql-style drivers %-format the whole text when given arguments: a literal % doubles.
            sql.append(part.replace("%", "%%") if dialect == "mysql" else part)
            if index == len(self.names):
                break
            name = self.names[index]
            if dialect == "postgresql":
                if name not in numbers:
                    numbers[name] = len(numbers) + 1
                    args.append(values[name])
                sql.append(f"${numbers[name]}")
            else:
                args.append(values[name])
                sql.append("%s" if dialect == "mysql" else "?")
        return "".join(sql), args


def _skip_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    """Index just past the quoted run starting at `start` (a doubled quote stays inside)."""
    i = start + 1
    n = len(sql)
    while i < n:
        c = sql[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def parse_sql(sql: str, dialect: Dialect) -> Template:
    """Find the `:name` placeholders outside strings, quoted names, comments and `::` casts."""
    parts: list[str] = []
    names: list[str] = []
    statements = 0
    pending = False  # something other than blanks and comments since the last `;`
    n = len(sql)
    start = i = 0
    while i < n:
        c = sql[i]
        if c == "'":
            escaped = dialect == "mysql" or (i > 0 and sql[i - 1] in "eE" and dialect == "postgresql")
            i = _skip_quoted(sql, i, "'", escaped)
            pending = True
        elif c == '"':
            i = _skip_quoted(sql, i, '"', dialect == "mysql")
            pending = True
        elif c == "`" and dialect != "postgresql":
            i = _skip_quoted(sql, i, "`", False)
            pending = True
        elif sql.startswith("--", i) or (c == "#" and dialect == "mysql"):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "$" and dialect == "postgresql" and (match := _DOLLAR_TAG.match(sql, i)):
            end = sql.find(match.group(0), match.end())
            i = n if end < 0 else end + len(match.group(0))
            pending = True
        elif c == ":" and sql.startswith("::", i):
            i += 2
            pending = True
        elif c == ":" and (match := _PARAM.match(sql, i + 1)):
            parts.append(sql[start:i])
            names.append(match.group(0))
            i = start = match.end()
            pending = True
        elif c == ";":
            statements += pending
            pending = False
            i += 1
        else:
            pending = pending or not c.isspace()
            i += 1
    parts.append(sql[start:])
    return Template(tuple(parts), tuple(names), statements + pending)


# --- query files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedQuery:
    app: str
    name: str
    sql: str  # the block's text, trailing semicolon removed
    file: Path
    line: int  # of the `-- name:` marker

    @property
    def where(self) -> str:
        return f"{self.file.parent.parent.name}/queries/{self.file.name}:{self.line}"

    def template(self, dialect: Dialect) -> Template:
        return parse_sql(self.sql, dialect)


@dataclass(frozen=True)
class QueryRef:
    name: str
    app: str | None
    mode: Mode | None

    @property
    def text(self) -> str:
        return f"{self.app}/{self.name}" if self.app else self.name


def parse_reference(text: str) -> QueryRef:
    """`"name"`, `"app/name"`, either followed by `:read` or `:write`."""
    body, sep, mode = text.strip().rpartition(":")
    if not sep:
        body, mode = text.strip(), ""
    elif mode not in ("read", "write"):
        raise QueryError(f"'{text}': expected '<query-name>:read' or '<query-name>:write', not ':{mode}'")
    app, slash, name = body.rpartition("/")
    if not _QUERY_NAME.match(name) or (slash and not _QUERY_NAME.match(app)):
        raise QueryError(
            f"'{text}' is not a query reference (expected '<query-name>[:read|:write]' "
            "or '<app>/<query-name>[:read|:write]')"
        )
    return QueryRef(name=name, app=app or None, mode=mode or None)  # type: ignore[arg-type]


@dataclass
class QueryBook:
    """Every named query of an install, by name; problems found in the files, by query name."""

    queries: dict[str, list[NamedQuery]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    folder: Path | None = None

    @classmethod
    def load(cls, plugins: Path) -> QueryBook:
        book = cls(folder=plugins)
        for file in sorted(plugins.glob("*/queries/*.sql")):
            for query in book._read(file):
                book.queries.setdefault(query.name, []).append(query)
        for name, found in book.queries.items():
            for app in {q.app for q in found}:
                same = [q for q in found if q.app == app]
                if len(same) > 1:
                    places = ", ".join(q.where for q in same)
                    book.problems.setdefault(name, []).append(
                        f"query '{name}' is defined twice in app '{app}': {places}"
                    )
        return book

    def _read(self, file: Path) -> Iterator[NamedQuery]:
        app = file.parent.parent.name
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.setdefault("", []).append(f"cannot read {file}: {exc}")
            return
        current: tuple[str, int] | None = None
        body: list[str] = []
        lines = text.splitlines()
        for number, line in enumerate([*lines, None], start=1):
            marker = _MARKER.match(line) if line is not None else None
            if line is not None and marker is None:
                body.append(line)
                continue
            block = "\n".join(body).strip()
            if current is None:
                if block and not all(b.strip().startswith("--") or not b.strip() for b in body):
                    self.problems.setdefault("", []).append(
                        f"{file.name}:1: SQL before the first '-- name: <query-name>' line "
                        "belongs to no query"
                    )
            else:
                name, at = current
                query = NamedQuery(app, name, _strip_semicolon(block), file, at)
                if not _QUERY_NAME.match(name):
                    self.problems.setdefault(name, []).append(
                        f"{query.where}: '{name}' is not a valid query name (letters, digits, '_', '-', '.')"
                    )
                elif not query.sql:
                    self.problems.setdefault(name, []).append(f"{query.where}: query '{name}' is empty")
                else:
                    statements = parse_sql(query.sql, "postgresql").statements
                    if statements > 1:
                        self.problems.setdefault(name, []).append(
                            f"{query.where}: query '{name}' holds {statements} statements; "
                            "a named query is one statement"
                        )
                    yield query
            if marker is not None:
                current = (marker.group("name"), number)
                body = []

    def find(self, ref: QueryRef) -> NamedQuery:
        """The query `ref` names; raise QueryError saying why there is none (or more than one)."""
        found = self.queries.get(ref.name, [])
        if ref.app is not None:
            found = [q for q in found if q.app == ref.app]
        if not found:
            where = f" in {self.folder.name}/*/queries/*.sql" if self.folder else ""
            known = sorted(self.queries)
            hint = did_you_mean(ref.name, known)
            listing = f"; known queries: {', '.join(known)}" if known and not hint else ""
            raise QueryError(f"no named query '{ref.text}'{where}{hint}{listing}")
        if self.problems.get(ref.name):
            raise QueryError("; ".join(self.problems[ref.name]))
        if len(found) > 1:
            apps = ", ".join(sorted(f"'{q.app}/{q.name}'" for q in found))
            raise QueryError(f"query name '{ref.name}' is used by several apps: write one of {apps}")
        return found[0]


def _strip_semicolon(sql: str) -> str:
    text = sql.rstrip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def plugins_folder(root: Path, settings: Mapping[str, Any]) -> Path:
    """Where the install's plugins are: `[jobs] plugins` in app.toml, relative to its folder."""
    jobs = settings.get("jobs")
    folder = jobs.get("plugins", "plugins") if isinstance(jobs, Mapping) else "plugins"
    return (root / str(folder)).resolve()


def queries_for(env: StepEnvironment) -> QueryBook:
    """The install's named queries, read once and shared by the SQL step types."""
    book = env.resources.get("queries")
    if book is None:
        book = env.resources.setdefault("queries", QueryBook.load(plugins_folder(env.root, env.settings)))
    assert isinstance(book, QueryBook)
    return book
