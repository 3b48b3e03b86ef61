"""What the SQL steps do on each kind of database, through its driver: bind parameters, read through a
server-side cursor, describe a query's or a table's columns, run statements, and load a copy's rows.

One class per dialect (PostgreSQL via asyncpg, MariaDB/MySQL via asyncmy, SQLite via aiosqlite) behind
the same methods (`base.Database`), so the steps read the same whatever the database.
"""

from __future__ import annotations

from nomaflow.engine.steps.sql.dialects.base import Database
from nomaflow.engine.steps.sql.dialects.mysql import MySql
from nomaflow.engine.steps.sql.dialects.postgres import Postgres
from nomaflow.engine.steps.sql.dialects.sqlite import Sqlite
from nomaflow.engine.steps.sql.names import (
    MAX_NAME,
    BadName,
    Column,
    ResultColumn,
    TableName,
    check_name,
    side_name,
)

__all__ = [
    "MAX_NAME",
    "BadName",
    "Column",
    "Database",
    "MySql",
    "Postgres",
    "ResultColumn",
    "Sqlite",
    "TableName",
    "check_name",
    "side_name",
]
