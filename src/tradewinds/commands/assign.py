"""`tradewinds assign`: put a strategy version on a market and account; `assign enable|disable ID`."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
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
from tradewinds.commands._common import CommandError, parse_params

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.storage.assignments import AssignmentView

_NEEDED = ("user", "strategy", "exchange", "symbol", "timeframe", "account", "allocation")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assign",
        help="assign a strategy to a market and account, or enable/disable an assignment",
        description="Assign a strategy version to a market (exchange, symbol, timeframe) on one of the "
        "user's accounts, with its own allocation of the quote currency: `tradewinds assign --user "
        "EMAIL --strategy NAME --exchange sim --symbol ALPHA/USD --timeframe 1m --account NAME "
        "--allocation 1000`. `tradewinds assign disable ID` and `assign enable ID` switch one.",
    )
    parser.add_argument("action", nargs="?", choices=("enable", "disable"), help="switch an assignment")
    parser.add_argument("id", nargs="?", type=int, help="the assignment's id (with enable/disable)")
    add_user_option(parser, required=False)
    parser.add_argument("--strategy", metavar="NAME", help="the user's strategy")
    parser.add_argument("--version", type=int, metavar="N", help="its version (default: the latest)")
    parser.add_argument("--exchange", metavar="ID", help="sim, bitfinex, or another ccxt id")
    parser.add_argument("--symbol", metavar="BASE/QUOTE", help="the market, e.g. BTC/USD")
    parser.add_argument("--timeframe", metavar="TF", help="1m, 5m, 15m, 30m, 1h, 4h, 1d, ...")
    parser.add_argument("--account", metavar="NAME", help="the user's trading account")
    parser.add_argument("--allocation", metavar="AMOUNT", help="quote currency the assignment starts with")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE", help="strategy parameter")
    parser.add_argument("--reason", help="why (shown with a disabled assignment)")
    add_output_options(parser)
    parser.set_defaults(func=run)


def describe(a: AssignmentView) -> str:
    state = "enabled" if a.enabled else f"disabled ({a.disabled_reason})"
    params = "".join(f" {name}={value}" for name, value in a.params.items())
    return (
        f"assignment {a.id}: {a.strategy} v{a.version} on {a.exchange} {a.symbol} {a.timeframe}, "
        f"account {a.account}, allocation {a.allocation} {a.quote}{params}, {state}"
    )


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        return run_add(args)
    return run_switch(args)


def run_add(args: argparse.Namespace) -> int:
    from tradewinds.domain.trading import AssignmentChanged
    from tradewinds.storage.assignments import add_assignment

    async def task(engine: AsyncEngine) -> int:
        if args.id is not None:
            raise CommandError(f"unexpected {args.id}: an id goes with `assign enable|disable ID`")
        missing = [f"--{name}" for name in _NEEDED if getattr(args, name) is None]
        if missing:
            raise CommandError(f"assign needs {', '.join(missing)}")
        try:
            allocation = Decimal(args.allocation)
        except InvalidOperation:
            raise CommandError(f"--allocation {args.allocation!r} is not an amount") from None
        user = await find_user(engine, args.user)
        made = await add_assignment(
            engine,
            user,
            strategy=args.strategy,
            version=args.version,
            exchange=args.exchange,
            symbol=args.symbol,
            timeframe=args.timeframe,
            account=args.account,
            allocation=allocation,
            params=parse_params(args.param),
        )
        published = await publish_changes([AssignmentChanged(made.id, user.id, "added")])
        emit(args, made, [f"added {describe(made)}", notice_line(published)])
        return 0

    return run_admin(args, task)


def run_switch(args: argparse.Namespace) -> int:
    from tradewinds.domain.trading import AssignmentChanged
    from tradewinds.storage.assignments import assignment_owner, set_assignment_enabled

    async def task(engine: AsyncEngine) -> int:
        if args.id is None:
            raise CommandError(f"assign {args.action} needs the assignment's id")
        extra = [f"--{name}" for name in _NEEDED[1:] if getattr(args, name) is not None]
        if extra:
            raise CommandError(f"assign {args.action} takes only an id (and --user): drop {', '.join(extra)}")
        owner = await assignment_owner(engine, args.id)
        if args.user is not None and (await find_user(engine, args.user)).id != owner.id:
            raise CommandError(f"{args.user.strip().lower()} has no assignment {args.id}", 1)
        enabled = args.action == "enable"
        reason = args.reason or ("disabled by an operator" if not enabled else None)
        changed = await set_assignment_enabled(engine, owner, args.id, enabled, reason)
        published = await publish_changes([AssignmentChanged(changed.id, owner.id, f"{args.action}d")])
        emit(args, changed, [f"{args.action}d {describe(changed)}", notice_line(published)])
        return 0

    return run_admin(args, task)
