"""What the administration commands share (user, account, strategy, assign, pause, the views):
the database, `--json`, secrets read from standard input, and telling the platform that
assignments changed.

Top level imports stay light (see cli.py): SQLAlchemy, nats and the repositories are imported
inside the functions that run a command.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import EXIT_FAILED, CommandError, fail

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.domain.trading import AssignmentChanged
    from tradewinds.storage.users import User

DATABASE_HELP = "database URL (default: $TRADEWINDS_DATABASE_URL, else tradewinds.db in the data folder)"
NOTIFY_TIMEOUT_S = 2.0

Task = Callable[["AsyncEngine"], Awaitable[int]]


def add_output_options(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--database", metavar="URL", help=DATABASE_HELP)


def add_user_option(parser: Any, required: bool = True) -> None:
    parser.add_argument("--user", required=required, metavar="EMAIL", help="the user it belongs to")


def run_admin(args: argparse.Namespace, task: Task) -> int:
    """Run `task(engine)` on the chosen database (schema checked); a failure is one line on stderr.

    Records that do not exist or cannot be made, an unreadable secret key and database trouble
    exit with status 1; a wrong command line (CommandError) with its own status.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from tradewinds.storage.database import (
        connect,
        describe_database_error,
        display_url,
        resolve_database_url,
    )
    from tradewinds.storage.errors import StorageError
    from tradewinds.storage.schema import check_current
    from tradewinds.storage.secrets import SecretKeyError

    try:
        url = resolve_database_url(getattr(args, "database", None))
    except StorageError as exc:
        return fail(str(exc))

    async def work() -> int:
        async with connect(url) as engine:
            await check_current(engine, f"database {display_url(url)}")
            return await task(engine)

    try:
        return asyncio.run(work())
    except CommandError as exc:
        return fail(str(exc), exc.status)
    except (StorageError, SecretKeyError) as exc:
        return fail(str(exc), EXIT_FAILED)
    except BrokenPipeError:
        raise  # output piped into `head`: cli.main ends quietly
    except (SQLAlchemyError, OSError) as exc:
        return fail(describe_database_error(exc, url), EXIT_FAILED)


async def find_user(engine: AsyncEngine, email: str) -> User:
    from tradewinds.storage.users import get_user

    return await get_user(engine, email)


def to_builtins(value: Any) -> Any:
    """msgspec structs, Decimals and the like as JSON-ready values (money as decimal strings)."""
    import msgspec

    return msgspec.to_builtins(value)


def emit(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    """`data` as JSON with --json, else the human-readable `lines`."""
    if getattr(args, "json", False):
        print(json.dumps(to_builtins(data), indent=2, ensure_ascii=False))
    else:
        for line in lines:
            print(line)


def read_secret_lines(names: list[str]) -> list[str]:
    """One line per name from standard input (typed without echo on a terminal), never argv.

    Secrets on the command line would land in shell history and `ps`; standard input does not.
    """
    if sys.stdin is None:
        raise CommandError(f"{' and '.join(names)}: standard input is closed")
    if sys.stdin.isatty():
        return [getpass.getpass(f"{name}: ").strip() for name in names]
    lines = sys.stdin.read().splitlines()
    if len(lines) < len(names):
        raise CommandError(f"expected {' and '.join(names)} on standard input, one per line")
    return [line.strip() for line in lines[: len(names)]]


async def publish_changes(changes: list[AssignmentChanged]) -> bool:
    """Tell the decision service at once (it also reloads every 30 s); False: no bus is running.

    The bus is TRADEWINDS_NATS_URL, else the data folder's embedded server if one runs. None is
    started for this: a command run with the platform down has nobody to tell.
    """
    if not changes:
        return True
    url = _running_bus_url()
    if url is None:
        return False
    try:
        return await _publish(url, changes)
    except Exception:  # the change is stored; the service's periodic reload picks it up
        return False


def _running_bus_url() -> str | None:
    from tradewinds.config import Settings

    settings = Settings.from_env()
    if settings.nats_url:
        return settings.nats_url
    record = settings.home / "nats" / "server.json"
    try:
        url = json.loads(record.read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) else None


async def _publish(url: str, changes: list[AssignmentChanged]) -> bool:
    import nats

    from tradewinds.bus import subjects
    from tradewinds.bus.codec import encode

    async with asyncio.timeout(NOTIFY_TIMEOUT_S):
        client = await nats.connect(
            url,
            name="tradewinds-admin",
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=1,
            error_cb=_quiet,  # an unreachable bus is reported in one line, not a traceback
        )
        try:
            for change in changes:
                await client.publish(subjects.ASSIGNMENTS_CHANGED, encode(change))
            await client.flush()
        finally:
            await client.close()
    return True


async def _quiet(_error: Exception) -> None:
    return None


def notice_line(published: bool) -> str:
    if published:
        return "  the platform was told"
    return "  (no bus reachable: the platform picks this up when it starts, or within 30 s)"
