"""The schema's version: Alembic migrations applied, checked and written through an async engine.

Alembic is synchronous, so each operation runs inside `AsyncConnection.run_sync` and hands the
synchronous connection to `migrations/env.py` (see there). No alembic.ini: the configuration is
built here, pointing at the migrations shipped inside the package.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.storage.errors import SchemaNotCurrentError, StorageError
from tradewinds.storage.models import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class SchemaUpgrade:
    """Revisions before and after `upgrade`; None means no Tradewinds tables."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this version of Tradewinds knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StorageError(f"no migrations found in {MIGRATIONS_DIR}; the installation is incomplete")
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None if it has no Tradewinds tables yet."""
    async with engine.connect() as conn:
        return await conn.run_sync(_revision_of)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> SchemaUpgrade:
    """Apply migrations up to `revision` in one transaction; a no-op when already there."""
    async with engine.begin() as conn:
        before = await conn.run_sync(_revision_of)
        await conn.run_sync(_run_command, command.upgrade, revision)
        after = await conn.run_sync(_revision_of)
    return SchemaUpgrade(before, after)


async def downgrade(engine: AsyncEngine, revision: str) -> SchemaUpgrade:
    """Undo migrations down to `revision` (`base`: drop every Tradewinds table)."""
    async with engine.begin() as conn:
        before = await conn.run_sync(_revision_of)
        await conn.run_sync(_run_command, command.downgrade, revision)
        after = await conn.run_sync(_revision_of)
    return SchemaUpgrade(before, after)


async def check_current(engine: AsyncEngine, where: str) -> None:
    """Raise SchemaNotCurrentError, saying what to do, unless the database is at the head revision."""
    revision = await current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if revision is None:
        raise SchemaNotCurrentError(f"{where} has no Tradewinds tables yet: run `tradewinds db upgrade`")
    if revision in known_revisions():
        raise SchemaNotCurrentError(
            f"{where} is at schema revision {revision}, this Tradewinds needs {head}: "
            f"run `tradewinds db upgrade`"
        )
    raise SchemaNotCurrentError(
        f"{where} is at schema revision {revision}, which this version of Tradewinds does not know "
        f"(its newest is {head}); it was written by a newer Tradewinds: upgrade Tradewinds"
    )


async def new_revision(engine: AsyncEngine, message: str) -> Path | None:
    """Write a migration taking the database (at head) to the models; None if nothing changed.

    For developers adding tables: point it at a database upgraded to head, review the file.
    """
    async with engine.connect() as conn:
        return await conn.run_sync(_autogenerate, message)


def _revision_of(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _run_command(conn: Connection, action: Any, revision: str) -> None:
    action(alembic_config(conn), revision)


def _autogenerate(conn: Connection, message: str) -> Path | None:
    revision = _revision_of(conn)
    if revision != head_revision():
        raise SchemaNotCurrentError(
            f"the database is at revision {revision}, not the head {head_revision()}: "
            f"run `tradewinds db upgrade` before writing a new migration"
        )
    if not compare_metadata(MigrationContext.configure(conn), Base.metadata):
        return None
    config = alembic_config(conn)
    next_id = f"{len(known_revisions()) + 1:04d}"
    script = command.revision(config, message=message, autogenerate=True, rev_id=next_id)
    if script is None or isinstance(script, list):
        raise StorageError("Alembic wrote no single migration; check the migrations folder")
    head_revision.cache_clear()
    return Path(script.path)
