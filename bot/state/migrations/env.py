"""Alembic's entry point for ``bot/state/migrations``.

Closer runs migrations itself (:func:`bot.state.migrate.upgrade`), passing an open connection in
``config.attributes["connection"]``. With a ``sqlalchemy.url`` instead (see
:func:`bot.state.migrate.alembic_config`), it connects itself or, offline, prints the SQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.state.engine import open_engine, parse
from bot.state.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE is too small
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = open_engine(parse(url or ""))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


main()
