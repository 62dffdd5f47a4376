"""`tradewinds strategy add|list|show`: a user's strategies and their immutable versions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewinds.commands._admin import add_output_options, add_user_option, emit, find_user, run_admin
from tradewinds.commands._common import EXIT_FAILED, CommandError, read_strategy

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "strategy", help="save and list strategies", description="Manage a user's strategies and versions."
    )
    actions = parser.add_subparsers(dest="strategy_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="save a strategy file as a new version",
        description="Save FILE.lua as the next version of the user's strategy NAME (created if new). "
        "The source must compile; saving the latest version's source again adds nothing.",
    )
    add_user_option(add)
    add.add_argument("--name", required=True, help="the strategy's name, unique for the user")
    add.add_argument("file", metavar="FILE.lua", help="the strategy's Lua source")
    add_output_options(add)
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="list a user's strategies")
    add_user_option(listing)
    add_output_options(listing)
    listing.set_defaults(func=run_list)

    show = actions.add_parser("show", help="show a strategy version and its source")
    add_user_option(show)
    show.add_argument("--name", required=True, help="the strategy's name")
    show.add_argument("--version", type=int, metavar="N", help="the version (default: the latest)")
    add_output_options(show)
    show.set_defaults(func=run_show)


def run_add(args: argparse.Namespace) -> int:
    from tradewinds.storage.strategies import InvalidStrategy, save_strategy

    async def task(engine: AsyncEngine) -> int:
        source = read_strategy(args.file)
        user = await find_user(engine, args.user)
        try:
            saved = await save_strategy(engine, user, args.name, source)
        except InvalidStrategy as exc:
            raise CommandError(f"{args.file}: {exc}", EXIT_FAILED) from None
        version = saved.version
        what = "saved" if saved.created else "unchanged: the latest version is already"
        emit(
            args,
            {"created": saved.created, "version": _without_source(version)},
            [f"{what} {version.strategy} version {version.number} (id {version.id}) of {user.email}"],
        )
        return 0

    return run_admin(args, task)


def run_list(args: argparse.Namespace) -> int:
    from tradewinds.domain.times import format_time_ms
    from tradewinds.storage.strategies import list_strategies

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        summaries = await list_strategies(engine, user)
        lines = [
            f"{s.name}: {s.versions} versions, latest {s.latest_version} "
            f"saved {format_time_ms(s.latest_created_ms)}"
            for s in summaries
        ]
        emit(args, summaries, lines or [f"{user.email} has no strategies yet: tradewinds strategy add"])
        return 0

    return run_admin(args, task)


def run_show(args: argparse.Namespace) -> int:
    from tradewinds.domain.times import format_time_ms
    from tradewinds.storage.strategies import get_version, list_versions

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        version = await get_version(engine, user, args.name, args.version)
        count = len(await list_versions(engine, user, args.name))
        header = (
            f"-- {version.strategy} version {version.number} of {count} (id {version.id}), "
            f"saved {format_time_ms(version.created_ms)}"
        )
        emit(args, version, [header, version.source.rstrip("\n")])
        return 0

    return run_admin(args, task)


def _without_source(version: Any) -> dict[str, Any]:
    import msgspec

    data: dict[str, Any] = msgspec.to_builtins(version)
    data.pop("source", None)
    return data
