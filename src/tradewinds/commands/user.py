"""`tradewinds user add|list|show`: the people who own strategies, accounts and assignments."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewinds.commands._admin import add_output_options, emit, read_secret_lines, run_admin
from tradewinds.commands._common import EXIT_FAILED, CommandError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.storage.users import User


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "user", help="add and list users", description="Manage the users of this Tradewinds."
    )
    actions = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="add a user (the first one is an administrator)",
        description="Add a user. Without --password-stdin a password is generated and printed once.",
    )
    add.add_argument("email")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_output_options(add)
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="list the users")
    add_output_options(listing)
    listing.set_defaults(func=run_list)

    show = actions.add_parser("show", help="show one user and what they own")
    show.add_argument("email")
    add_output_options(show)
    show.set_defaults(func=run_show)


def describe(user: User) -> str:
    flags = [flag for flag, on in (("admin", user.is_admin), ("trading paused", user.trading_paused)) if on]
    return f"{user.email} (id {user.id}{''.join(f', {flag}' for flag in flags)})"


def run_add(args: argparse.Namespace) -> int:
    from tradewinds.storage.passwords import PasswordError, check_password, generate_password
    from tradewinds.storage.users import add_user

    generated = not args.password_stdin

    async def task(engine: AsyncEngine) -> int:
        if generated:
            password = generate_password()
        else:
            [password] = read_secret_lines(["password"])
            try:
                check_password(password)
            except PasswordError as exc:
                raise CommandError(str(exc), EXIT_FAILED) from None
        user = await add_user(engine, args.email, password, admin=args.admin)
        lines = [f"added user {describe(user)}"]
        if generated:
            lines.append(f"  password: {password}  (shown once: keep it somewhere safe)")
        emit(args, {"user": user, "password": password if generated else None}, lines)
        return 0

    return run_admin(args, task)


def run_list(args: argparse.Namespace) -> int:
    from tradewinds.storage.users import list_users

    async def task(engine: AsyncEngine) -> int:
        users = await list_users(engine)
        emit(args, users, [describe(user) for user in users] or ["no users yet: tradewinds user add EMAIL"])
        return 0

    return run_admin(args, task)


def run_show(args: argparse.Namespace) -> int:
    from tradewinds.storage.accounts import list_accounts
    from tradewinds.storage.assignments import list_assignments
    from tradewinds.storage.strategies import list_strategies
    from tradewinds.storage.users import get_user

    async def task(engine: AsyncEngine) -> int:
        user = await get_user(engine, args.email)
        strategies = await list_strategies(engine, user)
        accounts = await list_accounts(engine, user)
        assignments = await list_assignments(engine, user)
        enabled = sum(1 for a in assignments if a.enabled)
        data = {
            "user": user,
            "strategies": len(strategies),
            "accounts": len(accounts),
            "assignments": len(assignments),
            "enabled_assignments": enabled,
        }
        emit(
            args,
            data,
            [
                describe(user),
                f"  {len(strategies)} strategies, {len(accounts)} accounts, "
                f"{len(assignments)} assignments ({enabled} enabled)",
            ],
        )
        return 0

    return run_admin(args, task)
