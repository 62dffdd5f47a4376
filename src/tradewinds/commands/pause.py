"""`tradewinds pause|resume --user EMAIL`: stop (at once) or restart all new orders of a user."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewinds.commands._admin import (
    add_output_options,
    add_user_option,
    emit,
    find_user,
    notice_line,
    publish_changes,
    run_admin,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def register(subparsers: Any) -> None:
    for name, helptext in (
        ("pause", "stop placing new orders for a user (assignments keep their positions)"),
        ("resume", "let a paused user's assignments trade again"),
    ):
        parser = subparsers.add_parser(
            name, help=helptext, description=helptext[0].upper() + helptext[1:] + "."
        )
        add_user_option(parser)
        add_output_options(parser)
        parser.set_defaults(func=run, paused=name == "pause")


def run(args: argparse.Namespace) -> int:
    from tradewinds.domain.trading import AssignmentChanged
    from tradewinds.storage.users import set_trading_paused

    async def task(engine: AsyncEngine) -> int:
        user = await set_trading_paused(engine, await find_user(engine, args.user), args.paused)
        reason = "user paused" if args.paused else "user resumed"
        published = await publish_changes([AssignmentChanged(None, user.id, reason)])
        verb = "paused" if args.paused else "resumed"
        emit(
            args,
            {"user": user, "notified": published},
            [f"{verb} trading of {user.email}", notice_line(published)],
        )
        return 0

    return run_admin(args, task)
