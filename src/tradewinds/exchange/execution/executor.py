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
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.domain.ledger import LedgerFill, replay
from tradewinds.domain.times import format_time_ms
from tradewinds.domain.trading import OrderIntent, OrderState
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    MarketInfo,
    OrderReport,
    OrderSide,
)
from tradewinds.exchange.execution.planner import PlanKind, Pricing, plan_next
from tradewinds.exchange.execution.prices import LatestPrices
from tradewinds.exchange.execution.records import (
    NOT_PLACED,
    TERMINAL,
    Context,
    IntentRecords,
    Publish,
    ends_intent,
    side_for,
)
from tradewinds.exchange.execution.venues import PaperVenue, Venue
from tradewinds.exchange.paper import DuplicateClientOrderId
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.storage.orders import apply_fill_report, fills_of_assignment, ledger_fill
from tradewinds.storage.trading_models import (
    OrderRow,
    TradingAccountRow,
)

log = logging.getLogger("tradewinds.execution")


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


VenueOf = Callable[[TradingAccountRow], Awaitable[Venue]]
MarketOf = Callable[[str], Awaitable[MarketInfo]]
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
        self.records = IntentRecords(engine, publish, now_ms)

    # ------------------------------------------------------------------ the intent

    async def execute(self, intent: OrderIntent) -> Outcome:
        context = await self.records.context(intent)
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
        recorded = await self.records.orders(intent.intent_id)
        in_flight = [row for row in recorded if row.status not in TERMINAL]
        for row in in_flight:
            settled = await self._settle_recorded(venue, row)
            if settled is None:
                return Outcome.RETRY
            if settled.status == OrderState.PENDING.value:  # it never reached the exchange: send it now
                outcome = await self._send(context, venue, settled)
                if outcome is not None:
                    return outcome
        if in_flight:
            recorded = await self.records.orders(intent.intent_id)
        if recorded and ends_intent(recorded[-1]):
            return Outcome.DONE
        later = await self.records.later_decision(intent)
        if later is not None:  # a redelivery that arrives after a newer decision was executed
            reason = f"superseded by the decision on the candle of {format_time_ms(later)}"
            if not recorded:
                await self.records.note(intent, context, 0, side_for(intent), Decimal(0), reason)
            log.info("intent %s: %s", intent.intent_id, reason)
            return Outcome.DONE
        return await self._trade(intent, context, venue, market, len(recorded))

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
                    await self.records.note(intent, context, leg, side_for(intent), Decimal(0), reason)
                log.debug("intent %s: %s", intent.intent_id, plan.reason)
                return Outcome.DONE
            if not fresh:  # a pause stops the next order at once
                latest = await self.records.context(intent)
                if latest is None:
                    return Outcome.DONE
                context = latest
            fresh = False
            refusal = context.refusal()
            if refusal is not None:
                if leg == 0:
                    await self.records.note(intent, context, leg, side_for(intent), Decimal(0), refusal)
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
            row = await self.records.record_pending(intent, context, leg, plan.order.side, plan.order.amount)
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
        row = self.records.new_row(intent, context, leg, side, amount)
        try:
            report = await venue.place(row.symbol, side, amount, row.client_order_id)
        except (InsufficientFunds, InvalidOrder, DuplicateClientOrderId) as exc:
            row.status, row.error = OrderState.REJECTED.value, str(exc)
            async with self.records.writing() as session:
                session.add(row)
                await session.commit()
            await self.publish(row)
            return None
        try:
            async with self.records.writing() as session:
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
            refusal = (await self.records.fresh_context(row)).refusal()
            if refusal is not None:  # a pause stops new orders at once, also between retries
                await self.records.finish(row, OrderState.CANCELED, NOT_PLACED + refusal)
                return Outcome.DONE
            row = await self.records.stamp_day(row)
            try:
                report = await venue.place(row.symbol, side, row.amount, row.client_order_id)
            except (InsufficientFunds, InvalidOrder, DuplicateClientOrderId) as exc:
                await self.records.finish(row, OrderState.REJECTED, str(exc))
                return Outcome.DONE
            except AuthenticationFailed as exc:
                await self.pause_account(context.account, str(exc))
                await self.records.finish(row, OrderState.FAILED, str(exc))
                return Outcome.DONE
            except (ExchangeError, TimeoutError, OSError) as exc:
                # The order may have executed although we heard nothing: ask before sending again.
                log.warning("order %s (cid %d): %s; looking it up", row.id, row.client_order_id, exc)
                await self.records.note_error(row, f"attempt {attempt}: {exc}")
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
        if await self.records.orders(intent.intent_id):
            return
        context = await self.records.context(intent)
        if context is not None:
            await self.records.note(intent, context, 0, side_for(intent), Decimal(0), reason)

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
                return await self.records.finish(
                    row, OrderState.FAILED, "the exchange no longer knows this order"
                )
            return row  # pending and unknown to the exchange: it was never received
        return await self._settle(venue, row, found)

    async def _settle(self, venue: Venue, row: OrderRow, report: OrderReport) -> OrderRow:
        """Record `report`; poll an open order until it is done or `fill_wait_s` has passed."""
        row = await self.records.apply(row, report)
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
                row = await self.records.apply(row, found)
        return row
