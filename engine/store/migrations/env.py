"""Alembic's environment for the job store: migrates the connection that
`nomaflow.engine.store.migrate` hands over.

There is no alembic.ini; `nomaflow db upgrade` and engine start both go through `migrate.upgrade()`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from nomaflow.engine.store.migrate import VERSION_TABLE, include_object
from nomaflow.engine.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run the job store's migrations through engine.store.upgrade() or `nomaflow db upgrade`"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
