"""`tradewinds db`: bring the database schema up to date, or show where it stands."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import EXIT_FAILED, fail

if TYPE_CHECKING:  # imported where used: building the parser must stay light (cli.py)
    from sqlalchemy.ext.asyncio import AsyncEngine

DATABASE_HELP = "database URL (default: $TRADEWINDS_DATABASE_URL, else tradewinds.db in the data folder)"


def add_database_option(parser: Any) -> None:
    parser.add_argument("--database", metavar="URL", help=DATABASE_HELP)


def run_with_database(args: argparse.Namespace, task: Callable[[AsyncEngine, str], Awaitable[int]]) -> int:
    """Run `task(engine, shown_url)` on the chosen database; database trouble becomes one line, status 1.

    Subcommands of `db` and `data` share this, so every one reports a bad URL, an unreachable
    server or a missing schema the same way.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from tradewinds.storage.database import (
        connect,
        describe_database_error,
        display_url,
        resolve_database_url,
    )
    from tradewinds.storage.errors import StorageError

    try:
        url = resolve_database_url(getattr(args, "database", None))
    except StorageError as exc:
        return fail(str(exc))

    async def work() -> int:
        async with connect(url) as engine:
            return await task(engine, display_url(url))

    try:
        return asyncio.run(work())
    except StorageError as exc:
        return fail(str(exc), EXIT_FAILED)
    except (SQLAlchemyError, OSError) as exc:
        return fail(describe_database_error(exc, url), EXIT_FAILED)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db",
        help="manage the database schema",
        description="Manage the Tradewinds database schema (Alembic migrations shipped with Tradewinds).",
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    upgrade = actions.add_parser("upgrade", help="apply pending migrations (safe to run again)")
    add_database_option(upgrade)
    upgrade.set_defaults(func=run_upgrade)

    current = actions.add_parser("current", help="show the database's schema revision")
    add_database_option(current)
    current.set_defaults(func=run_current)

    revision = actions.add_parser(
        "revision",
        help="(developers) write a migration from model changes",
        description="Compare the models with a database at the newest revision and write the "
        "migration between them into the package's migrations folder, for review.",
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
    add_database_option(revision)
    revision.set_defaults(func=run_revision)


def run_upgrade(args: argparse.Namespace) -> int:
    from tradewinds.storage import schema

    async def task(engine: AsyncEngine, shown: str) -> int:
        change = await schema.upgrade(engine)
        if change.changed:
            print(f"{shown}: schema upgraded from {change.before or '(empty)'} to {change.after}")
        else:
            print(f"{shown}: schema already at the newest revision, {change.after}")
        return 0

    return run_with_database(args, task)


def run_current(args: argparse.Namespace) -> int:
    from tradewinds.storage import schema

    async def task(engine: AsyncEngine, shown: str) -> int:
        revision = await schema.current_revision(engine)
        head = schema.head_revision()
        if revision is None:
            print(f"{shown}: no Tradewinds tables yet (run `tradewinds db upgrade`)")
        elif revision == head:
            print(f"{shown}: schema revision {revision} (newest)")
        else:
            print(f"{shown}: schema revision {revision}; newest is {head} (run `tradewinds db upgrade`)")
        return 0

    return run_with_database(args, task)


def run_revision(args: argparse.Namespace) -> int:
    from tradewinds.storage import schema

    async def task(engine: AsyncEngine, shown: str) -> int:
        path = await schema.new_revision(engine, args.message)
        if path is None:
            print(f"the models match {shown}: no migration needed")
        else:
            print(f"wrote {path}; review it and run `ruff format` on it before committing")
        return 0

    return run_with_database(args, task)
