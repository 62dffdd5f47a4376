"""Orders and fills: written before an order is sent, updated from what the exchange reports.

An order row is inserted as `pending` (unique per intent and leg) and committed before the order
leaves, so a crash between sending and hearing back leaves a record that reconciliation finds.
Fills are the increments of an order's filled amount: each report that says more was filled adds
one fill with the amount, average price and fee of that increment, so positions rebuilt from the
fills equal what the exchange says was filled, however many times a report is applied.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.ledger import LedgerFill
from tradewinds.domain.trading import OrderEvent, OrderState
from tradewinds.storage.trading_models import FillRow, OrderRow

IN_FLIGHT = (OrderState.PENDING.value, OrderState.OPEN.value)
_EXACT = decimal.Context(prec=60)


class OrderRecord(msgspec.Struct, frozen=True):
    """An order as `tradewinds orders` and watchers see it (money as decimal strings)."""

    id: int
    assignment_id: int
    account_id: int
    user_id: int
    intent_id: str
    leg: int
    client_order_id: int
    cid_date: str
    exchange_order_id: str | None
    exchange: str
    symbol: str
    candle_time_ms: int
    side: str
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    status: str
    error: str | None
    created_ms: int
    updated_ms: int


def order_record(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        id=row.id,
        assignment_id=row.assignment_id,
        account_id=row.account_id,
        user_id=row.user_id,
        intent_id=row.intent_id,
        leg=row.leg,
        client_order_id=row.client_order_id,
        cid_date=row.cid_date,
        exchange_order_id=row.exchange_order_id,
        exchange=row.exchange,
        symbol=row.symbol,
        candle_time_ms=row.candle_time_ms,
        side=row.side,
        amount=row.amount,
        filled=row.filled,
        price=row.price,
        fee=row.fee,
        fee_currency=row.fee_currency,
        status=row.status,
        error=row.error,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
    )


class OrderFields(Protocol):
    """What an order event is made of: an `OrderRow`, or an order staged in memory."""

    id: int
    assignment_id: int
    user_id: int
    intent_id: str
    client_order_id: int
    exchange: str
    symbol: str
    side: str
    amount: Decimal
    status: str
    filled: Decimal
    price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    error: str | None
    updated_ms: int


def order_event(row: OrderFields) -> OrderEvent:
    """What watchers hear about an order's change (subjects.order_events(user_id))."""
    return OrderEvent(
        order_id=row.id,
        assignment_id=row.assignment_id,
        user_id=row.user_id,
        intent_id=row.intent_id,
        client_order_id=row.client_order_id,
        exchange=row.exchange,
        symbol=row.symbol,
        side=row.side,
        amount=row.amount,
        status=OrderState(row.status),
        filled=row.filled,
        price=row.price,
        fee=row.fee,
        fee_currency=row.fee_currency,
        error=row.error,
        updated_ms=row.updated_ms,
    )


async def orders_of_intent(session: AsyncSession, intent_id: str) -> list[OrderRow]:
    """The orders recorded for an intent, by leg."""
    rows = await session.scalars(
        select(OrderRow).where(OrderRow.intent_id == intent_id).order_by(OrderRow.leg)
    )
    return list(rows)


async def in_flight_orders(session: AsyncSession, exchange: str) -> list[OrderRow]:
    """Orders of `exchange` recorded as pending or open: what reconciliation asks the exchange about."""
    rows = await session.scalars(
        select(OrderRow)
        .where(OrderRow.exchange == exchange, OrderRow.status.in_(IN_FLIGHT))
        .order_by(OrderRow.id)
    )
    return list(rows)


def add_order(session: AsyncSession, row: OrderRow) -> OrderRow:
    """Stage a new order (the caller commits before sending it)."""
    session.add(row)
    return row


def apply_fill_report(
    session: AsyncSession,
    order: OrderRow,
    *,
    filled: Decimal,
    average_price: Decimal | None,
    fee: Decimal,
    fee_currency: str | None,
    time_ms: int,
) -> FillRow | None:
    """Bring `order` to a cumulative `filled` (with its average price and total fee); the increment
    since the last report becomes a fill. A report that says less than recorded changes nothing."""
    increment = filled - order.filled
    if increment <= 0 or average_price is None:
        return None
    with decimal.localcontext(_EXACT):
        before_value = (order.price or Decimal(0)) * order.filled
        price = (average_price * filled - before_value) / increment
        fee_increment = max(fee - order.fee, Decimal(0))
    currency = fee_currency or order.fee_currency or ""
    fill = FillRow(
        order_id=order.id,
        assignment_id=order.assignment_id,
        account_id=order.account_id,
        side=order.side,
        amount=increment,
        price=price,
        fee=fee_increment,
        fee_currency=currency,
        time_ms=time_ms,
    )
    session.add(fill)
    order.filled = filled
    order.price = average_price
    order.fee = max(fee, order.fee)
    order.fee_currency = currency or None
    return fill


def ledger_fill(row: FillRow) -> LedgerFill:
    return LedgerFill(
        side=row.side,
        amount=row.amount,
        price=row.price,
        fee=row.fee,
        fee_currency=row.fee_currency,
        time_ms=row.time_ms,
    )


async def _fill_rows(target: AsyncSession | AsyncEngine, column: str, value: int) -> Sequence[FillRow]:
    query = select(FillRow).where(getattr(FillRow, column) == value).order_by(FillRow.id)
    if isinstance(target, AsyncSession):
        return list(await target.scalars(query))
    async with AsyncSession(target, expire_on_commit=False) as session:
        return list(await session.scalars(query))


async def fills_of_assignment(target: AsyncSession | AsyncEngine, assignment_id: int) -> list[LedgerFill]:
    """Every fill of an assignment, oldest first, for `domain.ledger.replay`."""
    return [ledger_fill(row) for row in await _fill_rows(target, "assignment_id", assignment_id)]


class AccountFill(msgspec.Struct, frozen=True):
    """A fill of any assignment of an account, with its market (paper balances are rebuilt from these)."""

    symbol: str
    fill: LedgerFill
    client_order_id: int
    fill_id: int


async def fills_of_account(target: AsyncSession | AsyncEngine, account_id: int) -> list[AccountFill]:
    query = (
        select(FillRow, OrderRow.symbol, OrderRow.client_order_id)
        .join(OrderRow, OrderRow.id == FillRow.order_id)
        .where(FillRow.account_id == account_id)
        .order_by(FillRow.id)
    )

    async def run(session: AsyncSession) -> list[AccountFill]:
        rows = (await session.execute(query)).all()
        return [AccountFill(symbol, ledger_fill(fill), cid, fill.id) for fill, symbol, cid in rows]

    if isinstance(target, AsyncSession):
        return await run(target)
    async with AsyncSession(target, expire_on_commit=False) as session:
        return await run(session)


async def list_orders(
    engine: AsyncEngine, user_id: int | None = None, assignment_id: int | None = None
) -> list[OrderRecord]:
    """Orders, oldest first, optionally of one user and/or one assignment."""
    query = select(OrderRow).order_by(OrderRow.id)
    if user_id is not None:
        query = query.where(OrderRow.user_id == user_id)
    if assignment_id is not None:
        query = query.where(OrderRow.assignment_id == assignment_id)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        return [order_record(row) for row in await session.scalars(query)]
