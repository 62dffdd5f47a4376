"""One intent, executed exactly once: from the records, to the exchange, back to the records.

For an `OrderIntent` the executor walks the orders already recorded for it (a redelivered intent
or a restarted adapter continues from them), settles any still in flight by asking the exchange
for its client order id, and then plans and places orders leg by leg until the slice holds the
target. Each leg's row is committed as `pending` before the order is sent; its client order id is
`client_order_id(intent_id, leg)`, so whatever happens the exchange sees one id per leg. When the
outcome of a send is unknown (a timeout, a lost reply, the exchange unreachable) the order is
looked up by that id before anything is sent again.

Refusals end the intent with the reason recorded (insufficient funds, an invalid order, a market
removed); refused keys also pause the account (`paused_reason`) so its assignments stop. A user's
pause, a paused account and a disabled assignment are checked before every order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.ledger import LedgerFill, replay
from tradewinds.domain.times import format_time_ms
from tradewinds.domain.trading import OrderIntent, OrderState, client_order_id
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    MarketInfo,
    OrderReport,
    OrderSide,
    OrderStatus,
)
from tradewinds.exchange.execution.planner import PlanKind, Pricing, plan_next
from tradewinds.exchange.execution.prices import LatestPrices
from tradewinds.exchange.execution.venues import PaperVenue, Venue
from tradewinds.exchange.paper import DuplicateClientOrderId
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.storage.orders import apply_fill_report, fills_of_assignment, ledger_fill, orders_of_intent
from tradewinds.storage.trading_models import (
    AssignmentRow,
    DecisionRow,
    OrderRow,
    TradingAccountRow,
    UserRow,
)

log = logging.getLogger("tradewinds.execution")

NOT_PLACED = "not placed: "  # error prefix of a row that records why no order was sent
_STATES = {
    OrderStatus.OPEN: OrderState.OPEN,
    OrderStatus.CLOSED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}
_TERMINAL = {
    OrderState.FILLED.value,
    OrderState.CANCELED.value,
    OrderState.REJECTED.value,
    OrderState.FAILED.value,
}


class Outcome(enum.Enum):
    DONE = "done"  # the outcome is recorded: acknowledge the intent
    RETRY = "retry"  # something is still unknown (the exchange unreachable): deliver it again later


@dataclass(frozen=True)
class ExecutionSettings:
    max_legs: int = 6  # orders per intent at most (each fills what the last one left)
    exchange_buy_reserve: Decimal = Decimal("0.005")  # the taker fee the venue checks + price moves
    send_attempts: int = 3
    retry_delay_s: float = 1.0
    fill_wait_s: float = 20.0  # an open market order is polled this long before trying later
    poll_interval_s: float = 0.25


@dataclass(frozen=True)
class Context:
    """What an intent trades on, read from the database before each order."""

    assignment: AssignmentRow
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


VenueOf = Callable[[TradingAccountRow], Awaitable[Venue]]
MarketOf = Callable[[str], Awaitable[MarketInfo]]
Publish = Callable[[OrderRow], Awaitable[None]]
PauseAccount = Callable[[TradingAccountRow, str], Awaitable[None]]


class Executor:
    def __init__(
        self,
        engine: AsyncEngine,
        venue_of: VenueOf,
        market_of: MarketOf,
        prices: LatestPrices,
        publish: Publish,
        pause_account: PauseAccount,
        settings: ExecutionSettings | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.engine = engine
        self.venue_of = venue_of
        self.market_of = market_of
        self.prices = prices
        self.publish = publish
        self.pause_account = pause_account
        self.settings = settings or ExecutionSettings()
        self.now_ms = now_ms
        self._write_turn: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    # ------------------------------------------------------------------ the intent

    async def execute(self, intent: OrderIntent) -> Outcome:
        context = await self._context(intent)
        if context is None:
            log.warning(
                "intent %s: assignment %d is not in the database; dropped",
                intent.intent_id,
                intent.assignment_id,
            )
            return Outcome.DONE
        venue = await self.venue_of(context.account)
        market = await self.market_of(intent.symbol)
        venue.quote(intent.symbol, self.prices.for_intent(intent))
        recorded = await self._orders(intent.intent_id)
        in_flight = [row for row in recorded if row.status not in _TERMINAL]
        for row in in_flight:
            settled = await self._settle_recorded(venue, row)
            if settled is None:
                return Outcome.RETRY
            if settled.status == OrderState.PENDING.value:  # it never reached the exchange: send it now
                outcome = await self._send(context, venue, settled)
                if outcome is not None:
                    return outcome
        if in_flight:
            recorded = await self._orders(intent.intent_id)
        if recorded and _ends_intent(recorded[-1]):
            return Outcome.DONE
        later = await self._later_decision(intent)
        if later is not None:  # a redelivery that arrives after a newer decision was executed
            reason = f"superseded by the decision on the candle of {format_time_ms(later)}"
            if not recorded:
                await self._note(intent, context, 0, _side_for(intent), Decimal(0), reason)
            log.info("intent %s: %s", intent.intent_id, reason)
            return Outcome.DONE
        return await self._trade(intent, context, venue, market, len(recorded))

    async def _later_decision(self, intent: OrderIntent) -> int | None:
        """The candle time of a newer (not stale) decision of the assignment, if there is one."""
        query = select(func.max(DecisionRow.candle_time_ms)).where(
            DecisionRow.assignment_id == intent.assignment_id, DecisionRow.stale.is_(False)
        )
        async with AsyncSession(self.engine) as session:
            newest = await session.scalar(query)
        return newest if newest is not None and newest > intent.candle_time_ms else None

    async def _trade(
        self, intent: OrderIntent, context: Context, venue: Venue, market: MarketInfo, leg: int
    ) -> Outcome:
        """Plan and place legs from `leg` on until the slice holds the target."""
        fills = await fills_of_assignment(self.engine, intent.assignment_id)
        fresh = True  # `context` was read just now
        while leg < self.settings.max_legs:
            book = replay(context.assignment.allocation, market.base, market.quote, fills)
            price = self.prices.for_intent(intent)
            plan = plan_next(
                intent.target, book, market, await venue.free_balances(), Pricing(price, venue.buy_reserve)
            )
            if plan.kind is not PlanKind.ORDER or plan.order is None:
                if leg == 0 and plan.kind is PlanKind.BELOW_MINIMUM:
                    reason = "nothing to do: " + plan.reason
                    await self._note(intent, context, leg, _side_for(intent), Decimal(0), reason)
                log.debug("intent %s: %s", intent.intent_id, plan.reason)
                return Outcome.DONE
            if not fresh:  # a pause stops the next order at once
                latest = await self._context(intent)
                if latest is None:
                    return Outcome.DONE
                context = latest
            fresh = False
            refusal = context.refusal()
            if refusal is not None:
                if leg == 0:
                    await self._note(intent, context, leg, _side_for(intent), Decimal(0), refusal)
                log.info("intent %s: %s; no order placed", intent.intent_id, refusal)
                return Outcome.DONE
            if isinstance(venue, PaperVenue):
                filled = await self._fill_on_paper(
                    intent, context, venue, leg, plan.order.side, plan.order.amount
                )
                if filled is None:
                    return Outcome.DONE
                fills.append(filled)
                leg += 1
                continue
            row = await self._record_pending(intent, context, leg, plan.order.side, plan.order.amount)
            outcome = await self._send(context, venue, row)
            if outcome is not None:
                return outcome
            fills = await fills_of_assignment(self.engine, intent.assignment_id)
            leg += 1
        log.warning("intent %s: stopped after %d orders", intent.intent_id, leg)
        return Outcome.DONE

    # ------------------------------------------------------------------ one order

    async def _fill_on_paper(
        self,
        intent: OrderIntent,
        context: Context,
        venue: PaperVenue,
        leg: int,
        side: OrderSide,
        amount: Decimal,
    ) -> LedgerFill | None:
        """A paper order and its fill in one transaction: the paper account is the database, so
        there is no exchange to ask afterwards. None if the account refused it (recorded)."""
        row = self._new_row(intent, context, leg, side, amount)
        try:
            report = await venue.place(row.symbol, side, amount, row.client_order_id)
        except (InsufficientFunds, InvalidOrder, DuplicateClientOrderId) as exc:
            row.status, row.error = OrderState.REJECTED.value, str(exc)
            async with self._writing() as session:
                session.add(row)
                await session.commit()
            await self.publish(row)
            return None
        try:
            async with self._writing() as session:
                session.add(row)
                await session.flush()
                fill = apply_fill_report(
                    session,
                    row,
                    filled=report.filled,
                    average_price=report.average_price,
                    fee=report.fee,
                    fee_currency=report.fee_currency,
                    time_ms=report.timestamp_ms or self.now_ms(),
                )
                row.exchange_order_id = report.order_id
                row.status = OrderState.FILLED.value
                await session.commit()
        except BaseException:
            venue.forget()  # the account in memory is ahead of the records: rebuild it next time
            raise
        await self.publish(row)
        if fill is None:  # nothing filled (cannot happen on paper, which fills at once)
            return None
        venue.recorded(fill.id)
        return ledger_fill(fill)

    async def _send(self, context: Context, venue: Venue, row: OrderRow) -> Outcome | None:
        """Send a recorded pending order until its outcome is known; None: go on with the next leg."""
        side = OrderSide(row.side)
        if isinstance(venue, PaperVenue):
            venue.forget()  # a fill recorded apart from the order (a resend): rebuild next time
        for attempt in range(1, self.settings.send_attempts + 1):
            refusal = (await self._fresh_context(row)).refusal()
            if refusal is not None:  # a pause stops new orders at once, also between retries
                await self._finish(row, OrderState.CANCELED, NOT_PLACED + refusal)
                return Outcome.DONE
            row = await self._stamp_day(row)
            try:
                report = await venue.place(row.symbol, side, row.amount, row.client_order_id)
            except (InsufficientFunds, InvalidOrder, DuplicateClientOrderId) as exc:
                await self._finish(row, OrderState.REJECTED, str(exc))
                return Outcome.DONE
            except AuthenticationFailed as exc:
                await self.pause_account(context.account, str(exc))
                await self._finish(row, OrderState.FAILED, str(exc))
                return Outcome.DONE
            except (ExchangeError, TimeoutError, OSError) as exc:
                # The order may have executed although we heard nothing: ask before sending again.
                log.warning("order %s (cid %d): %s; looking it up", row.id, row.client_order_id, exc)
                await self._note_error(row, f"attempt {attempt}: {exc}")
                try:
                    found = await venue.find(
                        row.symbol, row.client_order_id, row.exchange_order_id, row.cid_date
                    )
                except (ExchangeError, TimeoutError, OSError) as lookup_exc:
                    log.warning("order %s: lookup failed (%s); trying later", row.id, lookup_exc)
                    return Outcome.RETRY
                if found is None:
                    await asyncio.sleep(self.settings.retry_delay_s * attempt)
                    continue
                report = found
            settled = await self._settle(venue, row, report)
            if settled.status in (OrderState.OPEN.value, OrderState.PENDING.value):
                return Outcome.RETRY
            if settled.status != OrderState.FILLED.value and settled.filled == 0:
                return Outcome.DONE  # canceled or rejected by the exchange: do not place it again
            return None
        return Outcome.RETRY  # left pending; the next delivery looks it up before sending again

    async def note_unplaceable(self, intent: OrderIntent, reason: str) -> None:
        """Record that no order could be placed for `intent` (a market removed), once."""
        if await self._orders(intent.intent_id):
            return
        context = await self._context(intent)
        if context is not None:
            await self._note(intent, context, 0, _side_for(intent), Decimal(0), reason)

    async def settle_recorded(self, venue: Venue, row: OrderRow) -> OrderRow | None:
        return await self._settle_recorded(venue, row)

    async def _settle_recorded(self, venue: Venue, row: OrderRow) -> OrderRow | None:
        """Bring an in-flight order up to date from the exchange; None if it cannot be asked now."""
        try:
            found = await venue.find(row.symbol, row.client_order_id, row.exchange_order_id, row.cid_date)
        except (ExchangeError, TimeoutError, OSError) as exc:
            log.warning("order %s (cid %d): could not ask the exchange: %s", row.id, row.client_order_id, exc)
            return None
        if found is None:
            if row.status == OrderState.OPEN.value:
                return await self._finish(row, OrderState.FAILED, "the exchange no longer knows this order")
            return row  # pending and unknown to the exchange: it was never received
        return await self._settle(venue, row, found)

    async def _settle(self, venue: Venue, row: OrderRow, report: OrderReport) -> OrderRow:
        """Record `report`; poll an open order until it is done or `fill_wait_s` has passed."""
        row = await self._apply(row, report)
        waited = 0.0
        while row.status == OrderState.OPEN.value and waited < self.settings.fill_wait_s:
            await asyncio.sleep(self.settings.poll_interval_s)
            waited += self.settings.poll_interval_s
            try:
                found = await venue.find(row.symbol, row.client_order_id, row.exchange_order_id, row.cid_date)
            except (ExchangeError, TimeoutError, OSError) as exc:
                log.warning("order %s: could not ask the exchange: %s", row.id, exc)
                continue
            if found is not None:
                row = await self._apply(row, found)
        return row

    # ------------------------------------------------------------------ records

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A session that writes. SQLite has one writer at a time, and a writer that finds the
        file locked sleeps in its busy handler: writes of this process take turns here instead."""
        async with self._write_turn, AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    async def _context(self, intent: OrderIntent) -> Context | None:
        query = (
            select(AssignmentRow, TradingAccountRow, UserRow)
            .join(TradingAccountRow, TradingAccountRow.id == AssignmentRow.account_id)
            .join(UserRow, UserRow.id == AssignmentRow.user_id)
            .where(AssignmentRow.id == intent.assignment_id)
        )
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            found = (await session.execute(query)).one_or_none()
        return None if found is None else Context(*found)

    async def _fresh_context(self, row: OrderRow) -> Context:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            assignment = await session.get(AssignmentRow, row.assignment_id)
            account = await session.get(TradingAccountRow, row.account_id)
            user = await session.get(UserRow, row.user_id)
            assert assignment is not None and account is not None and user is not None
            return Context(assignment, account, user)

    async def _orders(self, intent_id: str) -> list[OrderRow]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return await orders_of_intent(session, intent_id)

    def _new_row(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal
    ) -> OrderRow:
        now = self.now_ms()
        return OrderRow(
            assignment_id=intent.assignment_id,
            account_id=context.account.id,
            user_id=context.user.id,
            intent_id=intent.intent_id,
            leg=leg,
            client_order_id=client_order_id(intent.intent_id, leg),
            cid_date=format_time_ms(now)[:10],
            exchange=intent.exchange,
            symbol=intent.symbol,
            side=side.value,
            amount=amount,
            filled=Decimal(0),
            fee=Decimal(0),
            status=OrderState.PENDING.value,
            candle_time_ms=intent.candle_time_ms,
            created_ms=now,
            updated_ms=now,
        )

    async def _record_pending(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal
    ) -> OrderRow:
        row = self._new_row(intent, context, leg, side, amount)
        async with self._writing() as session:
            session.add(row)
            await session.commit()  # on disk before the order leaves
        await self.publish(row)
        return row

    async def _note(
        self, intent: OrderIntent, context: Context, leg: int, side: OrderSide, amount: Decimal, reason: str
    ) -> None:
        """Record why a decision placed no order (a pause, an amount below the minimum)."""
        row = self._new_row(intent, context, leg, side, amount)
        row.status = OrderState.CANCELED.value
        row.error = reason if reason.startswith("nothing to do") else NOT_PLACED + reason
        async with self._writing() as session:
            session.add(row)
            await session.commit()
        await self.publish(row)

    async def _apply(self, row: OrderRow, report: OrderReport) -> OrderRow:
        async with self._writing() as session:
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
            current.status = _STATES[report.status].value
            current.updated_ms = self.now_ms()
            if current.status == OrderState.FILLED.value:
                current.error = None
            await session.commit()
        await self.publish(current)
        return current

    async def _finish(self, row: OrderRow, state: OrderState, error: str) -> OrderRow:
        async with self._writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            current.status = state.value
            current.error = error
            current.updated_ms = self.now_ms()
            await session.commit()
        log.info("order %s (cid %d) %s: %s", row.id, row.client_order_id, state.value, error)
        await self.publish(current)
        return current

    async def _stamp_day(self, row: OrderRow) -> OrderRow:
        """Record the UTC day the client id is sent on (Bitfinex finds a cid only with its day)."""
        today = format_time_ms(self.now_ms())[:10]
        if row.cid_date == today:
            return row
        async with self._writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            current.cid_date = today
            await session.commit()
        return current

    async def _note_error(self, row: OrderRow, error: str) -> None:
        async with self._writing() as session:
            current = await session.get(OrderRow, row.id)
            assert current is not None
            current.error = error
            current.updated_ms = self.now_ms()
            await session.commit()


def _side_for(intent: OrderIntent) -> OrderSide:
    return OrderSide.BUY if intent.target == "long" else OrderSide.SELL


def _ends_intent(row: OrderRow) -> bool:
    """A refused order, or a note that nothing was placed, is the intent's recorded outcome."""
    if row.status in (OrderState.REJECTED.value, OrderState.FAILED.value):
        return True
    return row.status == OrderState.CANCELED.value and row.filled == 0
