"""Alembic's environment for the run's database. bot/store/schema.py runs
migrations programmatically on a connection it passes in
`config.attributes["connection"]`; there is no alembic.ini."""

from alembic import context

from bot.store.tables import metadata

connection = context.config.attributes["connection"]
# Batch mode: SQLite alters a table by copying it, PostgreSQL in place.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
