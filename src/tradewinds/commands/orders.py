"""`tradewinds orders [--user EMAIL] [--assignment ID]`: the orders placed for assignments.

With --json, a JSON array (money as decimal strings); `price` is the average fill price.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewinds.commands._admin import add_output_options, add_user_option, emit, run_admin

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.storage.orders import OrderRecord


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "orders",
        help="list orders",
        description="List the orders placed for assignments, oldest first.",
    )
    add_user_option(parser, required=False)
    parser.add_argument("--assignment", type=int, metavar="ID", help="only this assignment's orders")
    add_output_options(parser)
    parser.set_defaults(func=run)


def view(order: OrderRecord) -> dict[str, Any]:
    return {
        "id": order.id,
        "assignment_id": order.assignment_id,
        "user_id": order.user_id,
        "account_id": order.account_id,
        "intent_id": order.intent_id,
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "exchange": order.exchange,
        "symbol": order.symbol,
        "candle_time_ms": order.candle_time_ms,
        "side": order.side,
        "amount": str(order.amount),
        "filled": str(order.filled),
        "price": None if order.price is None else str(order.price),
        "fee": str(order.fee),
        "fee_currency": order.fee_currency,
        "status": order.status,
        "error": order.error,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def describe(order: OrderRecord) -> str:
    from tradewinds.domain.times import format_time_ms

    base, quote = order.symbol.split("/", 1)
    price = f" at {order.price} {quote}" if order.price is not None else ""
    fee = f", fee {order.fee} {order.fee_currency}" if order.fee_currency else ""
    error = f": {order.error}" if order.error else ""
    return (
        f"{order.id:>6}  assignment {order.assignment_id}  {format_time_ms(order.candle_time_ms)}  "
        f"{order.side} {order.filled}/{order.amount} {base} on {order.exchange}{price}{fee}  "
        f"{order.status}{error}"
    )


def run(args: argparse.Namespace) -> int:
    from tradewinds.storage.orders import list_orders
    from tradewinds.storage.users import get_user

    async def task(engine: AsyncEngine) -> int:
        user_id = (await get_user(engine, args.user)).id if args.user else None
        orders = await list_orders(engine, user_id=user_id, assignment_id=args.assignment)
        emit(args, [view(o) for o in orders], [describe(o) for o in orders] or ["no orders yet"])
        return 0

    return run_admin(args, task)
