"""`tradewinds account add|list|show|disable`: paper accounts and exchange accounts (API keys).

The API secret (and the passphrase, on the next line) are read from standard input, never from
the command line, and never printed: views show at most the key's last four characters.
"""

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
    read_secret_lines,
    run_admin,
)
from tradewinds.commands._common import CommandError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.storage.accounts import Account
    from tradewinds.storage.secrets import SecretBox


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "account", help="add and list trading accounts", description="Manage a user's trading accounts."
    )
    actions = parser.add_subparsers(dest="account_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="add a paper or exchange account",
        description="Add a paper account (balances kept by Tradewinds) or an exchange account. "
        "For an exchange account the API secret is read from standard input (then the passphrase, "
        "on the next line, with --passphrase-stdin).",
    )
    add_user_option(add)
    add.add_argument("--name", required=True, help="the account's name, unique for the user")
    kind = add.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--paper", metavar="CUR=AMOUNT[,CUR=AMOUNT]", help="a paper account with these starting balances"
    )
    kind.add_argument("--exchange", metavar="ID", help="an account on this exchange (e.g. bitfinex)")
    add.add_argument("--fee", type=_decimal, default=Decimal("0.001"), help="paper fee rate (default 0.001)")
    add.add_argument("--slippage", type=_decimal, default=Decimal(0), help="paper slippage (default 0)")
    add.add_argument("--api-key", metavar="KEY", help="the exchange API key (the secret comes on stdin)")
    add.add_argument(
        "--passphrase-stdin", action="store_true", help="read a passphrase after the secret from stdin"
    )
    add_output_options(add)
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="list a user's accounts")
    add_user_option(listing)
    add_output_options(listing)
    listing.set_defaults(func=run_list)

    keys = actions.add_parser(
        "keys",
        help="replace an exchange account's API keys (clears a pause bad keys caused)",
        description="Replace an exchange account's API keys; the secret (then the passphrase, with "
        "--passphrase-stdin) is read from standard input. A pause the old keys caused is lifted.",
    )
    add_user_option(keys)
    keys.add_argument("--name", required=True, help="the account's name")
    keys.add_argument("--api-key", required=True, metavar="KEY", help="the new API key")
    keys.add_argument("--passphrase-stdin", action="store_true", help="read a passphrase after the secret")
    add_output_options(keys)
    keys.set_defaults(func=run_keys)

    for action, helptext, func in (
        ("show", "show one account", run_show),
        ("disable", "disable an account and its assignments", run_disable),
        ("enable", "enable a disabled account (its assignments stay disabled)", run_enable),
    ):
        sub = actions.add_parser(action, help=helptext)
        add_user_option(sub)
        sub.add_argument("--name", required=True, help="the account's name")
        add_output_options(sub)
        sub.set_defaults(func=func)


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def parse_balances(text: str) -> dict[str, Decimal]:
    """`USD=10000,BTC=1` -> {"USD": 10000, "BTC": 1} (the repository checks the values)."""
    balances: dict[str, Decimal] = {}
    for item in text.split(","):
        currency, sep, amount = item.partition("=")
        if not sep or not currency.strip():
            raise CommandError(
                f"--paper {text!r}: expected CURRENCY=AMOUNT[,CURRENCY=AMOUNT], e.g. USD=10000"
            )
        try:
            balances[currency.strip().upper()] = Decimal(amount.strip())
        except InvalidOperation:
            raise CommandError(
                f"--paper: {amount.strip()!r} is not an amount of {currency.strip()}"
            ) from None
    return balances


def describe(account: Account) -> list[str]:
    state = "enabled" if account.enabled else "disabled"
    if account.paused_reason:
        state += f", paused: {account.paused_reason}"
    if account.kind == "paper":
        balances = ", ".join(f"{amount} {code}" for code, amount in account.balances.items())
        return [
            f"{account.name} (id {account.id}): paper, {state}",
            f"  starting balances {balances}; fee rate {account.fee_rate}, slippage {account.slippage}",
        ]
    key = f"key {account.api_key_hint}" if account.api_key_hint else "key set"
    extra = ", passphrase set" if account.has_passphrase else ""
    return [f"{account.name} (id {account.id}): {account.exchange}, {state}", f"  {key}{extra}"]


def view_box() -> SecretBox | None:
    """The secret box for key hints, or None when there is no readable key (views still work)."""
    from tradewinds.config import tradewinds_home
    from tradewinds.storage.secrets import SecretBox, SecretKeyError

    try:
        return SecretBox.load(tradewinds_home(), create=False)
    except (SecretKeyError, OSError):
        return None


def run_add(args: argparse.Namespace) -> int:
    from tradewinds.config import tradewinds_home
    from tradewinds.storage.accounts import add_exchange_account, add_paper_account
    from tradewinds.storage.secrets import SecretBox

    async def task(engine: AsyncEngine) -> int:
        if args.paper is not None and (args.api_key or args.passphrase_stdin):
            raise CommandError("--api-key and --passphrase-stdin are for --exchange accounts")
        if args.exchange is not None and not args.api_key:
            raise CommandError("--exchange needs --api-key KEY (the secret is read from standard input)")
        user = await find_user(engine, args.user)
        if args.exchange is None:
            balances = parse_balances(args.paper)
            account = await add_paper_account(engine, user, args.name, balances, args.fee, args.slippage)
        else:
            names = ["API secret", "passphrase"] if args.passphrase_stdin else ["API secret"]
            secrets = read_secret_lines(names)
            box = SecretBox.load(tradewinds_home())
            account = await add_exchange_account(
                engine,
                user,
                args.name,
                args.exchange,
                args.api_key,
                secrets[0],
                box,
                passphrase=secrets[1] if args.passphrase_stdin else None,
            )
        lines = describe(account)
        emit(args, account, [f"added account {lines[0]} for {user.email}", *lines[1:]])
        return 0

    return run_admin(args, task)


def run_list(args: argparse.Namespace) -> int:
    from tradewinds.storage.accounts import list_accounts

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        accounts = await list_accounts(engine, user, view_box())
        lines = [line for account in accounts for line in describe(account)]
        emit(args, accounts, lines or [f"{user.email} has no accounts yet: tradewinds account add"])
        return 0

    return run_admin(args, task)


def run_show(args: argparse.Namespace) -> int:
    from tradewinds.storage.accounts import get_account
    from tradewinds.storage.assignments import list_assignments

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        account = await get_account(engine, user, args.name, view_box())
        mine = [a for a in await list_assignments(engine, user) if a.account_id == account.id]
        allocated: dict[str, Decimal] = {}
        for assignment in mine:
            if assignment.enabled:
                allocated[assignment.quote] = (
                    allocated.get(assignment.quote, Decimal(0)) + assignment.allocation
                )
        lines = describe(account)
        lines.append(f"  {len(mine)} assignments, {sum(a.enabled for a in mine)} enabled")
        lines.extend(
            f"  {amount} {code} allocated to enabled assignments" for code, amount in allocated.items()
        )
        emit(args, {"account": account, "assignments": [a.id for a in mine], "allocated": allocated}, lines)
        return 0

    return run_admin(args, task)


def run_disable(args: argparse.Namespace) -> int:
    from tradewinds.domain.trading import AssignmentChanged
    from tradewinds.storage.accounts import disable_account

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        account, stopped = await disable_account(engine, user, args.name)
        published = await publish_changes(
            [AssignmentChanged(assignment_id=i, user_id=user.id, reason="account disabled") for i in stopped]
        )
        lines = [f"disabled account {account.name} of {user.email}"]
        if stopped:
            lines.append(f"  and its {len(stopped)} enabled assignments: {', '.join(map(str, stopped))}")
            lines.append(notice_line(published))
        emit(args, {"account": account, "disabled_assignments": stopped, "notified": published}, lines)
        return 0

    return run_admin(args, task)


def run_enable(args: argparse.Namespace) -> int:
    from tradewinds.storage.accounts import enable_account

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        account = await enable_account(engine, user, args.name)
        lines = [
            f"enabled account {account.name} of {user.email}",
            "  its assignments stay disabled: tradewinds assign enable ID",
        ]
        emit(args, account, lines)
        return 0

    return run_admin(args, task)


def run_keys(args: argparse.Namespace) -> int:
    from tradewinds.config import tradewinds_home
    from tradewinds.domain.trading import AssignmentChanged
    from tradewinds.storage.accounts import replace_api_keys
    from tradewinds.storage.secrets import SecretBox

    async def task(engine: AsyncEngine) -> int:
        user = await find_user(engine, args.user)
        names = ["API secret", "passphrase"] if args.passphrase_stdin else ["API secret"]
        secrets = read_secret_lines(names)
        box = SecretBox.load(tradewinds_home())
        passphrase = secrets[1] if args.passphrase_stdin else None
        account, ids = await replace_api_keys(
            engine, user, args.name, args.api_key, secrets[0], box, passphrase=passphrase
        )
        published = await publish_changes(
            [AssignmentChanged(assignment_id=i, user_id=user.id, reason="account keys replaced") for i in ids]
        )
        lines = [f"replaced the API keys of account {account.name} of {user.email}", *describe(account)[1:]]
        if ids:
            lines.append(notice_line(published))
        emit(args, account, lines)
        return 0

    return run_admin(args, task)
