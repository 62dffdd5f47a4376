"""`tradewinds assignments [--user EMAIL]`: every assignment with its position, P&L and last evaluation.

With --json, a JSON array that scripts and monitoring rely on (money as decimal strings).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewinds.commands._admin import add_output_options, add_user_option, emit, run_admin

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.storage.slices import AssignmentSlice


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assignments",
        help="list assignments with their positions and profit and loss",
        description="List assignments (all users', or one user's) with the position and P&L their fills "
        "give, valued at the market's latest stored 1-minute close, and their last evaluation.",
    )
    add_user_option(parser, required=False)
    add_output_options(parser)
    parser.set_defaults(func=run)


def describe(s: AssignmentSlice) -> list[str]:
    quote = s.symbol.split("/", 1)[1]
    state = "enabled" if s.enabled else f"disabled ({s.disabled_reason})"
    if s.trading_paused:
        state += ", user paused"
    if s.account_paused_reason:
        state += f", account paused: {s.account_paused_reason}"
    unrealized = "no price yet" if s.unrealized_pnl is None else f"unrealized {s.unrealized_pnl:.2f}"
    lines = [
        f"{s.id:>5}  {s.user}  {s.strategy} v{s.version}  {s.exchange} {s.symbol} {s.timeframe}  "
        f"account {s.account}  {state}",
        f"       {s.position}, {s.base_held} {s.symbol.split('/', 1)[0]} held; realized "
        f"{s.realized_pnl:.2f} {quote}, {unrealized}, fees {s.fees:.2f} ({s.fills} fills)",
    ]
    if s.last_evaluation is not None:
        e = s.last_evaluation
        detail = f": {e.error}" if e.error else (f": {e.message}" if e.message else "")
        lines.append(f"       last evaluation {e.candle_time}: {e.result}{detail}")
    if s.ledger_error:
        lines.append(f"       fills do not add up: {s.ledger_error}")
    return lines


def run(args: argparse.Namespace) -> int:
    from tradewinds.storage.slices import assignment_slices
    from tradewinds.storage.users import get_user, list_users

    async def task(engine: AsyncEngine) -> int:
        owners = [await get_user(engine, args.user)] if args.user else await list_users(engine)
        slices = [s for user in owners for s in await assignment_slices(engine, user)]
        lines = [line for s in slices for line in describe(s)]
        emit(args, slices, lines or ["no assignments yet: tradewinds assign"])
        return 0

    return run_admin(args, task)
