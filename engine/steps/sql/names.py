"""Names the SQL steps accept and make: plain identifiers, `schema.table`, the columns of a table or a
query, and the names of the helper tables a copy stages beside its target."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from nomaflow.engine.steps.sql.types import Kind, SqlType, describe_value

_NAME = re.compile(r"^[^\W\d]\w*$")
MAX_NAME = 63  # PostgreSQL's limit (MariaDB allows 64): one rule for every database


class BadName(ValueError):
    pass


def check_name(name: str, what: str) -> str:
    """`name` if it is a plain identifier (letters, digits, '_'; not starting with a digit)."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name.encode()) > MAX_NAME:
        raise BadName(
            f"{what} {describe_value(name)} is not a valid name "
            f"(letters, digits and '_', not starting with a digit, at most {MAX_NAME} bytes)"
        )
    return name


@dataclass(frozen=True)
class TableName:
    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str, what: str = "table") -> TableName:
        """`"table"` or `"schema.table"`, each part a valid name."""
        parts = text.split(".") if isinstance(text, str) else [text]
        if len(parts) > 2:
            raise BadName(
                f"{what} {describe_value(text)} is not a valid name (expected 'table' or 'schema.table')"
            )
        if len(parts) == 2:
            return cls(check_name(parts[0], f"schema of {what}"), check_name(parts[1], what))
        return cls(None, check_name(parts[0], what))

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def with_name(self, name: str) -> TableName:
        return TableName(self.schema, name)


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    nullable: bool = True
    generated: bool = False  # computed by the database: never written


@dataclass(frozen=True)
class ResultColumn:
    name: str
    kind: Kind


def side_name(base: str, tag: str) -> str:
    """A helper table's name beside `base` (`orders__nf_stage_1a2b3c4d`), within the length limit."""
    suffix = f"__nf_{tag}_{secrets.token_hex(4)}"
    trimmed = base.encode()[: MAX_NAME - len(suffix)].decode(errors="ignore")
    return trimmed + suffix
