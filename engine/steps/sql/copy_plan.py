"""How each column of a copy lands in the target: its name there, its type, and the conversion (a cast on
a PostgreSQL source, a Python function, or none) from what the source hands over.

Pure: the planner reads column descriptions and options and returns a `Plan` or raises `CopyFailed` naming
the column; it never touches a database, so it is unit-tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.resources.connectors import Dialect
from nomaflow.engine.steps.sql.copy_codecs import decoder, encoder
from nomaflow.engine.steps.sql.copy_fields import PythonField, read_from_postgres, spelled
from nomaflow.engine.steps.sql.copy_splice import CopyRewriter, Recode
from nomaflow.engine.steps.sql.copy_sqlite_text import text_columns
from nomaflow.engine.steps.sql.copy_text import relayable, sqlite_relayable
from nomaflow.engine.steps.sql.errors import rejected_value
from nomaflow.engine.steps.sql.names import Column, TableName
from nomaflow.engine.steps.sql.types import INTEGERS, TEXTS, Convert, Kind, SqlType, parse_override, render
from nomaflow.engine.steps.sql.values import compatible, converter, reader_normalizer, to_kind, writer_adapter


class CopyFailed(PermanentStepFailure):
    pass


@dataclass
class Plan:
    """How each source column lands in the target."""

    source: list[Column]
    names: list[str]  # target column names, in source order
    types: list[SqlType]  # target column types, in source order
    converters: list[tuple[int, Convert, str]] = field(default_factory=list)  # (index, fn, "from -> to")
    casts: dict[int, str] = field(default_factory=dict)  # PostgreSQL to PostgreSQL: SQL casts on the source
    passthrough: bool = False
    # PostgreSQL to PostgreSQL, spliced: the columns decoded, converted and re-encoded in Python, while the
    # COPY data of the others passes through (empty otherwise).
    recoded: list[int] = field(default_factory=list)
    # Between PostgreSQL and MariaDB/MySQL, or SQLite into PostgreSQL, every column unchanged: rows
    # travel as the databases' text (copy_text), the converters above unused...
    relay: bool = False
    # ... but for these columns, converted in Python on the way (copy_fields).
    relay_converted: list[int] = field(default_factory=list)
    # PostgreSQL into SQLite, every column of a kind copy_sqlite_text reads: the rows leave PostgreSQL as
    # COPY text and are bound as str where that stores what the Python path stores, read and converted
    # column by column elsewhere (the converters above then apply to the values read).
    text_rows: bool = False

    def select_list(self, quote: Callable[[str], str]) -> str:
        """The source columns as the pass-through COPY reads them, cast where the plan says."""
        return ", ".join(
            self.casts[i].format(column=quote(c.name)) if i in self.casts else quote(c.name)
            for i, c in enumerate(self.source)
        )

    def rewriter(self) -> CopyRewriter:
        """The rewriter of the source's COPY data into the target's, for a spliced copy."""
        converts = {index: (convert, described) for index, convert, described in self.converters}
        columns: list[Recode | None] = [None] * len(self.source)
        for index in self.recoded:
            have, wanted = self.source[index].type, self.types[index]
            convert, described = converts.get(index, (None, f"{have} -> {wanted}"))
            decode, encode = decoder(have), encoder(wanted)
            if decode is None or encode is None:  # the planner splices only columns it can convert
                raise CopyFailed(f"column '{self.source[index].name}': no binary COPY codec for {described}")
            columns[index] = Recode(self.source[index].name, described, decode, convert, encode)
        return CopyRewriter(columns)

    def python_fields(
        self,
        read: Callable[[Kind], Convert | None] | None = None,
        spelling: Callable[[Kind], Callable[[Any], str]] | None = None,
    ) -> list[PythonField]:
        """The columns a relay converts in Python: each value first `read` from the source's text (by
        the source column's kind), converted, then spelled as the target reads it (by default
        PostgreSQL's COPY text)."""
        converts = {index: (convert, described) for index, convert, described in self.converters}
        fields = []
        for index in self.relay_converted:
            convert, described = converts[index]
            if read is not None:
                convert = _compose(read(self.source[index].type.kind), convert) or convert
            kind = self.types[index].kind
            spell = spelling(kind) if spelling is not None else None
            fields.append(PythonField(index, self.source[index].name, convert, described, kind, spell))
        return fields

    def apply(self, step: str, batch: Sequence[Sequence[Any]], offset: int) -> Sequence[Sequence[Any]]:
        """The batch with the plan's conversions done; `offset` rows came before it (for messages)."""
        if not self.converters or not batch:
            return batch
        # Column by column: one comprehension per converted column and C-level transposes cost about
        # half of a Python loop over every row.
        columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
        try:
            for index, convert, _ in self.converters:
                columns[index] = [None if v is None else convert(v) for v in columns[index]]
        except (ValueError, TypeError, ArithmeticError):
            for number, row in enumerate(batch, start=offset + 1):
                self._explain(step, row, number)
            raise
        return list(zip(*columns, strict=True))

    def _explain(self, step: str, row: Sequence[Any], number: int) -> None:
        """Raise CopyFailed naming the row, column and value that failed (found again, slowly)."""
        for index, convert, described in self.converters:
            value = row[index]
            if value is None:
                continue
            try:
                convert(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                reason = rejected_value(self.source[index].name, value, described, exc)
                raise CopyFailed(f"step '{step}': row {number}, {reason}") from None


# --- the planner -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planner:
    """Plans one copy from `source_dialect` into `table` on `target_dialect`."""

    step: str
    table: TableName
    source_dialect: Dialect
    target_dialect: Dialect
    overrides: Mapping[str, str] = field(default_factory=dict)  # the `columns` option: types when creating
    key: Sequence[str] = ()  # upsert's key columns

    @property
    def both_postgres(self) -> bool:
        return self.source_dialect == self.target_dialect == "postgresql"

    def plan(self, source: list[Column], existing: list[Column] | None) -> Plan:
        """The plan for `source` into the target table's `existing` columns (None: the copy creates it)."""
        if existing is None:
            plan = Plan(source, [c.name for c in source], [self.created_type(c) for c in source])
        else:
            matched = [self._match(column, existing) for column in source]
            plan = Plan(source, [m.name for m in matched], [m.type for m in matched])
        differs: set[int] = set()  # columns whose binary COPY form is not one the target reads
        for index, (column, wanted) in enumerate(zip(source, plan.types, strict=True)):
            self._plan_column(plan, index, column, wanted, differs)
        self._choose_path(plan, differs)
        plan.relay = self._relayed(plan)
        plan.text_rows = (self.source_dialect, self.target_dialect) == ("postgresql", "sqlite") and (
            text_columns(plan) is not None
        )
        self._check_key(plan)
        return plan

    def created_type(self, column: Column) -> SqlType:
        """The type of `column` in a table the copy creates."""
        override = self.overrides.get(column.name)
        if override is not None:
            try:
                return parse_override(override, self.target_dialect)
            except ValueError as exc:
                raise CopyFailed(f"step '{self.step}': columns.{column.name}: {exc}") from None
        have = column.type
        if have.kind is Kind.OTHER:
            if self.source_dialect == self.target_dialect and have.declared:
                return have
            raise CopyFailed(
                f"step '{self.step}': column '{column.name}': the type map has no {self.target_dialect} type "
                f"for {self.source_dialect} type '{have.declared or '(none)'}'; "
                f'name one in columns = {{ {column.name} = "..." }}'
            )
        if self.target_dialect == "mysql" and have.kind is Kind.TEXT and column.name in self.key:
            have = SqlType(Kind.VARCHAR, "varchar(255)", 255)  # MariaDB cannot index unbounded text
        try:
            return SqlType(have.kind, render(have, self.target_dialect), have.precision, have.scale)
        except ValueError as exc:
            raise CopyFailed(f"step '{self.step}': column '{column.name}': {exc}") from None

    def _match(self, column: Column, existing: list[Column]) -> Column:
        """The target column a source column fills: the same name, or the one name equal but for case."""
        by_name = {c.name: c for c in existing}
        folded = [c for c in existing if c.name.lower() == column.name.lower()]
        match = by_name.get(column.name) or (folded[0] if len(folded) == 1 else None)
        if match is None:
            listed = ", ".join(c.name for c in existing)
            raise CopyFailed(
                f"step '{self.step}': source column '{column.name}' has no column in table "
                f"'{self.table}'{did_you_mean(column.name, by_name)} (its columns: {listed})"
            )
        if match.generated:
            raise CopyFailed(
                f"step '{self.step}': column '{match.name}' of table '{self.table}' is generated by "
                "the database and cannot be written; leave it out of the source query"
            )
        return match

    def _plan_column(
        self, plan: Plan, index: int, column: Column, wanted: SqlType, differs: set[int]
    ) -> None:
        have = column.type
        same_declared = have.declared.lower() == wanted.declared.lower()
        if self.both_postgres and not same_declared and (cast := server_cast(have, wanted)) is not None:
            plan.casts[index] = cast  # the source server converts; the COPY data still passes through
            return
        if have.kind is Kind.OTHER or wanted.kind is Kind.OTHER:
            if same_declared and self.source_dialect == self.target_dialect:
                return  # a type the map does not know, copied only as itself
            self._check_untyped(column, wanted)
        elif not compatible(have.kind, wanted.kind):
            raise CopyFailed(
                f"step '{self.step}': column '{column.name}': cannot copy {have.declared} ({have.kind}) "
                f"into {wanted.declared} ({wanted.kind}) of table '{self.table}'"
            )
        if not same_declared and not _same_binary(have, wanted):
            differs.add(index)
        convert = self.conversion(have, wanted)
        if convert is not None:
            plan.converters.append((index, convert, f"{have.declared or 'untyped'} -> {wanted.declared}"))

    def _check_untyped(self, column: Column, wanted: SqlType) -> None:
        """Only SQLite's untyped expressions may meet a type the map does not know."""
        have = column.type
        if not (self.source_dialect == "sqlite" and have.declared == ""):
            raise CopyFailed(
                f"step '{self.step}': column '{column.name}': cannot copy {self.source_dialect} type "
                f"'{have.declared or '?'}' into {self.target_dialect} type '{wanted.declared}'"
            )

    def conversion(self, have: SqlType, wanted: SqlType) -> Convert | None:
        """What Python does to a value of `have` read from the source so the target takes it as `wanted`:
        the driver's reading made canonical, the kind changed, the canonical value made the driver's."""
        if _same_values(have.kind, wanted.kind):
            kind_change = None
        elif self.source_dialect == "sqlite" or have.kind is Kind.OTHER:
            kind_change = to_kind(wanted.kind)  # SQLite values may be of any storage class
        else:
            kind_change = converter(have.kind, wanted.kind)
        return _compose(
            reader_normalizer(have.kind, self.source_dialect) if have.kind is not Kind.OTHER else None,
            kind_change,
            writer_adapter(wanted.kind, self.target_dialect),
        )

    def _choose_path(self, plan: Plan, differs: set[int]) -> None:
        """PostgreSQL to PostgreSQL: pass the COPY data through, splice it, or (when some column cannot be
        spliced) decode every row and convert the cast columns in Python too."""
        recoded = sorted(differs | {index for index, _, _ in plan.converters})
        plan.passthrough = self.both_postgres and not recoded
        if (
            self.both_postgres
            and recoded
            and all(_spliceable(plan.source[i].type, plan.types[i]) for i in recoded)
        ):
            plan.recoded = recoded  # the cast columns stay with the source server
        elif not plan.passthrough and plan.casts:
            for index in sorted(plan.casts):
                have, wanted = plan.source[index].type, plan.types[index]
                plan.converters.append((index, converter(have.kind, wanted.kind), f"{have} -> {wanted}"))
            plan.converters.sort(key=lambda item: item[0])
            plan.casts = {}

    def _relayed(self, plan: Plan) -> bool:
        """Whether the rows can go from PostgreSQL to MariaDB (or back), or from SQLite to PostgreSQL, as
        text: every column's kind is kept, or is converted in Python on the way (`relay_converted`)."""
        pair = (self.source_dialect, self.target_dialect)
        if pair == ("sqlite", "postgresql"):
            fits = sqlite_relayable
        elif set(pair) == {"postgresql", "mysql"}:
            fits = relayable
        else:
            return False

        def convertible(have: SqlType, wanted: SqlType) -> bool:
            """Whether Python can read the column from the source's text and spell it in the target's."""
            if pair == ("postgresql", "mysql"):
                return read_from_postgres(have.kind) is not None  # LOAD DATA reads any kind's spelling
            return spelled(wanted.kind)

        columns = [(c.type, wanted) for c, wanted in zip(plan.source, plan.types, strict=True)]
        converted = {index for index, _, _ in plan.converters}
        in_python = [i for i, (have, wanted) in enumerate(columns) if not fits(have, wanted)]
        if not all(i in converted and convertible(*columns[i]) for i in in_python):
            return False
        plan.relay_converted = in_python
        return True

    def _check_key(self, plan: Plan) -> None:
        for key in self.key:
            if key not in plan.names:
                raise CopyFailed(
                    f"step '{self.step}': key column '{key}' is not among the copied columns "
                    f"({', '.join(plan.names)}){did_you_mean(key, plan.names)}"
                )


# --- what converts how -------------------------------------------------------------------------------

_SAME: tuple[tuple[Kind, ...], ...] = (INTEGERS, TEXTS)


def _same_values(source: Kind, target: Kind) -> bool:
    """True when a canonical value of `source` is already one of `target`."""
    return source is target or any(source in group and target in group for group in _SAME)


# Conversions PostgreSQL does exactly as the Python ones would and that cannot fail on a value the
# target could take: for these the source query casts and the COPY data still passes straight through.
_WIDER_INTEGER = {Kind.SMALLINT: (Kind.INTEGER, Kind.BIGINT), Kind.INTEGER: (Kind.BIGINT,)}


def server_cast(have: SqlType, wanted: SqlType) -> str | None:
    """A SQL expression template (`{column}`) converting `have` to `wanted` on a PostgreSQL source."""
    source, target = have.kind, wanted.kind
    if source is Kind.OTHER or target is Kind.OTHER:
        return None
    if (source, target) in ((Kind.TIMESTAMP, Kind.TIMESTAMPTZ), (Kind.TIMESTAMPTZ, Kind.TIMESTAMP)):
        return "({column} AT TIME ZONE 'UTC')"  # naive values are UTC, as in every other path
    castable = (
        target in _WIDER_INTEGER.get(source, ())
        or (source in INTEGERS and target in (Kind.NUMERIC, Kind.REAL, Kind.DOUBLE))
        or (source is Kind.NUMERIC and target in (Kind.NUMERIC, Kind.REAL, Kind.DOUBLE))
        or (source in (*INTEGERS, Kind.NUMERIC, Kind.UUID, *TEXTS) and target in TEXTS)
        or (source is Kind.JSON and target is Kind.JSON)
        or (source is Kind.BOOLEAN and target in INTEGERS)
    )
    return f"{{column}}::{wanted.declared}" if castable else None


def _same_binary(have: SqlType, wanted: SqlType) -> bool:
    """Whether PostgreSQL's binary COPY form of `have` is one `wanted` reads: the same type, whatever its
    modifiers (the target still applies its own, as for any COPY)."""
    if have.kind is Kind.OTHER or have.kind is Kind.JSON:  # json and jsonb differ on the wire
        return _base_type(have) == _base_type(wanted)
    return have.kind is wanted.kind


def _spliceable(have: SqlType, wanted: SqlType) -> bool:
    """Whether a column can be converted inside a spliced copy: its binary COPY forms are known."""
    return decoder(have) is not None and encoder(wanted) is not None


def _base_type(t: SqlType) -> str:
    return re.sub(r"\(.*?\)", "", t.declared).strip().lower()


def _compose(*functions: Convert | None) -> Convert | None:
    chain = [f for f in functions if f is not None]
    if not chain:
        return None
    if len(chain) == 1:
        return chain[0]
    # Spelled out for two and three: a loop over the chain costs as much as the conversions themselves,
    # once a value for each row of a copy.
    if len(chain) == 2:
        first, second = chain
        return lambda value: second(first(value))
    first, second, third = chain
    return lambda value: third(second(first(value)))
