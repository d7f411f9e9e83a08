"""Alembic environment: run the revisions on the connection :mod:`api.migrations` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from api.db import Base

# Any fixed number: PostgreSQL serialises concurrent upgrades on this advisory lock.
PG_LOCK_ID = 7_202_617

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"select pg_advisory_xact_lock({PG_LOCK_ID})"))
    context.run_migrations()
