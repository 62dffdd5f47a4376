"""Alembic's environment: migrations run on the connection Tradewinds hands over.

`tradewinds.storage.database` opens the async engine and calls Alembic inside
`AsyncConnection.run_sync`, passing the synchronous connection as `config.attributes["connection"]`;
one code path then serves SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tradewinds.storage.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("Tradewinds migrations run against a live database: use `tradewinds db upgrade`")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "run Tradewinds migrations through `tradewinds db upgrade` "
            "(or tradewinds.storage.database.upgrade_schema), which supplies the connection"
        )
    run_migrations(connection)


main()
