"""The records of an intent's orders: what the executor reads and writes, one transaction each.

Every change of an order is committed, then published (`publish`) for watchers. On SQLite the
writes of one process take turns (one writer at a time: a writer that finds the file locked would
sleep in SQLite's busy handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.times import format_time_ms
from tradewinds.domain.trading import OrderIntent, OrderState, client_order_id
from tradewinds.exchange.adapter import OrderReport, OrderSide, OrderStatus
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.storage.orders import OrderFields, apply_fill_report, orders_of_intent
from tradewinds.storage.trading_models import (
    AssignmentRow,
    DecisionRow,
    OrderRow,
    TradingAccountRow,
    UserRow,
)

log = logging.getLogger("tradewinds.execution")

NOT_PLACED = "not placed: "  # error prefix of a row that records why no order was sent
STATES = {
    OrderStatus.OPEN: OrderState.OPEN,
    OrderStatus.CLOSED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}
TERMINAL = {
    OrderState.FILLED.value,
    OrderState.CANCELED.value,
    OrderState.REJECTED.value,
    OrderState.FAILED.value,
}

Publish = Callable[[OrderFields], Awaitable[None]]


@dataclass(frozen=True)
class SliceTerms:
    """What trading reads of an assignment: its slice's allocation and whether it may trade (the
    paper lane reads these columns alone: loading whole ORM rows was its batch read's main cost)."""

    allocation: Decimal
    enabled: bool
    disabled_reason: str | None


@dataclass(frozen=True)
class Context:
    """What an intent trades on, read from the database before each order."""

    assignment: AssignmentRow | SliceTerms
    account: TradingAccountRow
    user: UserRow

    def refusal(self) -> str | None:
        if self.user.trading_paused:
            return "trading is paused for this user"
        if self.account.paused_reason:
            return f"the account is paused: {self.account.paused_reason}"
        if not self.account.enabled:
            return "the account is disabled"
        if not self.assignment.enabled:
            reason = self.assignment.disabled_reason
            return "the assignment is disabled" + (f": {reason}" if reason else "")
        return None


class IntentRecords:
    def __init__(
        self, engine: AsyncEngine, publish: Publish, now_ms: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.engine = engine
        self.publish = publish
        self.now_ms = now_ms
        self._write_turn: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    async def later_decision(self, intent: OrderIntent) -> int | None:
        """The candle time of a newer (not stale) decision of the assignment, if there is one."""
        query = select(func.max(DecisionRow.candle_time_ms)).where(
            DecisionRow.assignment_id == intent.assignment_id, DecisionRow.stale.is_(False)
        )
        async with AsyncSession(self.engine) as session:
            newest = await session.scalar(query)
        return newest if newest is not None and newest > intent.candle_time_ms else None

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session that writes. SQLite has one writer at a time, and a writer that finds the
        file locked sleeps in its busy handler: writes of this process take turns here instead."""
        async with self._write_turn, AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    async def context(self, intent: OrderIntent) -> Context | None:
        query = (
            select(AssignmentRow, TradingAccountRow, UserRow)
            .join(TradingAccountRow, TradingAccountRow.id == AssignmentRow.account_id)
            .join(UserRow, UserRow.id == AssignmentRow.user_id)
            .where(AssignmentRow.id == intent.assignment_id)
        )
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            found = (await session.execute(query)).one_or_none()
        return None if found is None else Context(*found)

    async def fresh_context(self, row: OrderRow) -> Context:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            assignment = await session.get(AssignmentRow, row.assignment_id)
            account = await session.get(TradingAccountRow, row.account_id)
            user = await session.get(UserRow, row.user_id)
            assert assignment is not None and account is not None and user is not None
            return Context(assignment, account, user)

    async def orders(self, intent_id: str) -> list[OrderRow]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return await orders_of_intent(session, intent_id)

    def new_row(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal
    ) -> OrderRow:
        return OrderRow(**order_fields(intent, context, leg, side, amount, self.now_ms()))

    def note_row(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal, reason: str
    ) -> OrderRow:
        """The row that says why a decision placed no order (not written yet)."""
        row = self.new_row(intent, context, leg, side, amount)
        row.status, row.error = OrderState.CANCELED.value, note_error(reason)
        return row

    async def record_pending(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal
    ) -> OrderRow:
        row = self.new_row(intent, context, leg, side, amount)
        async with self.writing() as session:
            session.add(row)
            await session.commit()  # on disk before the order leaves
        await self.publish(row)
        return row

    async def note(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal, reason: str
    ) -> None:
        """Record why a decision placed no order (a pause, an amount below the minimum)."""
        row = self.note_row(intent, context, leg, side, amount, reason)
        async with self.writing() as session:
            session.add(row)
            await session.commit()
        await self.publish(row)

    async def apply(self, row: OrderRow, report: OrderReport) -> OrderRow:
        async with self.writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            apply_fill_report(
                session,
                current,
                filled=report.filled,
                average_price=report.average_price,
                fee=report.fee,
                fee_currency=report.fee_currency,
                time_ms=report.timestamp_ms or self.now_ms(),
            )
            current.exchange_order_id = report.order_id
            current.status = STATES[report.status].value
            current.updated_ms = self.now_ms()
            if current.status == OrderState.FILLED.value:
                current.error = None
            await session.commit()
        await self.publish(current)
        return current

    async def finish(self, row: OrderRow, state: OrderState, error: str) -> OrderRow:
        async with self.writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            current.status = state.value
            current.error = error
            current.updated_ms = self.now_ms()
            await session.commit()
        log.info("order %s (cid %d) %s: %s", row.id, row.client_order_id, state.value, error)
        await self.publish(current)
        return current

    async def stamp_day(self, row: OrderRow) -> OrderRow:
        """Record the UTC day the client id is sent on (Bitfinex finds a cid only with its day)."""
        today = format_time_ms(self.now_ms())[:10]
        if row.cid_date == today:
            return row
        async with self.writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            current.cid_date = today
            await session.commit()
        return current

    async def note_error(self, row: OrderRow, error: str) -> None:
        async with self.writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            current.error = error
            current.updated_ms = self.now_ms()
            await session.commit()


def order_fields(
    intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal, now_ms: int
) -> dict[str, Any]:
    """The columns of a new (pending) order of `intent`'s `leg`, its client order id derived."""
    return {
        "assignment_id": intent.assignment_id,
        "account_id": context.account.id,
        "user_id": context.user.id,
        "intent_id": intent.intent_id,
        "leg": leg,
        "client_order_id": client_order_id(intent.intent_id, leg),
        "cid_date": format_time_ms(now_ms)[:10],
        "exchange": intent.exchange,
        "symbol": intent.symbol,
        "side": side.value,
        "amount": amount,
        "filled": Decimal(0),
        "fee": Decimal(0),
        "status": OrderState.PENDING.value,
        "candle_time_ms": intent.candle_time_ms,
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }


def note_error(reason: str) -> str:
    """The error of a row that records why no order was placed."""
    return reason if reason.startswith("nothing to do") else NOT_PLACED + reason


def side_for(intent: OrderIntent) -> OrderSide:
    return OrderSide.BUY if intent.target == "long" else OrderSide.SELL


def ends_intent(row: OrderRow) -> bool:
    """A refused order, or a note that nothing was placed, is the intent's recorded outcome."""
    if row.status in (OrderState.REJECTED.value, OrderState.FAILED.value):
        return True
    return row.status == OrderState.CANCELED.value and row.filled == 0
