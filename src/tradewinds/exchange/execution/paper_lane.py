"""Paper intents in batches: read together, filled in memory, recorded in one transaction.

A paper account lives in the database, so executing its intents needs no exchange: what costs is
the records. One intent at a time took five or six round trips to the database (its assignment,
its orders, newer decisions, its fills, the account's newest fill, then the order and its fill),
about 5 ms on SQLite, so a close on which 10,000 paper assignments change position left orders
waiting for a minute. The lane reads what a batch of intents needs in a few queries, trades the
intents one after another in arrival order exactly as the executor does (the same planner,
ledger, refusals and notes, each fill moving the in-memory paper account), and commits every
order and fill of the batch at once.

Exactly once: the batch's records are committed together or not at all (a failed commit forgets
the in-memory accounts, which are rebuilt from the records next time, and every intent is
delivered again). An intent that finds orders recorded already (redelivered after a commit whose
acknowledgement was lost) is handed to the executor, which continues from those records; the
unique (intent, leg) of the orders table refuses a second record of one leg in any case.

The paper accounts themselves are kept here (`venue`), for the executor too: the lane is the only
writer of a paper account in this process, and a cached account is used only while it includes
the newest recorded fill (another process may trade the same account).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.ledger import LedgerFill, SliceBook, replay
from tradewinds.domain.times import format_time_ms
from tradewinds.domain.trading import OrderIntent, OrderState
from tradewinds.exchange.adapter import InsufficientFunds, InvalidOrder, MarketInfo, OrderReport
from tradewinds.exchange.execution.executor import Executor, Outcome
from tradewinds.exchange.execution.planner import PlanKind, Pricing, plan_next
from tradewinds.exchange.execution.prices import LatestPrices
from tradewinds.exchange.execution.records import (
    Context,
    IntentRecords,
    SliceTerms,
    note_error,
    order_fields,
    side_for,
)
from tradewinds.exchange.execution.slice_books import SliceBooks, StoredFills
from tradewinds.exchange.execution.venues import PaperVenue, last_fill_id, rebuild_paper_venue
from tradewinds.exchange.paper import DuplicateClientOrderId
from tradewinds.storage.bulk import id_list_query, select_rows
from tradewinds.storage.trading_models import (
    DecisionRow,
    FillRow,
    OrderRow,
    TradingAccountRow,
    UserRow,
)

log = logging.getLogger("tradewinds.execution")

MarketOf = Callable[[str], Awaitable[MarketInfo]]
AllMarkets = Callable[[], Awaitable[Mapping[str, MarketInfo]]]


@dataclass
class _Known:
    """What the database says about a batch's intents, read before any of them trades."""

    contexts: dict[int, Context]  # by assignment id
    recorded: set[str]  # intent ids with orders recorded already
    newest_decision: dict[int, int]  # assignment id -> candle time of its newest (not stale) decision
    stored: dict[int, StoredFills]  # assignment id -> its recorded fills, after its kept book
    newest_fill: dict[int, int]  # account id -> its newest fill id
    books: dict[int, SliceBook] = field(default_factory=dict)  # after the recorded fills
    staged_fills: dict[int, list[LedgerFill]] = field(default_factory=dict)  # this batch's, by slice
    currencies: dict[int, tuple[str, str]] = field(default_factory=dict)  # slice -> (base, quote)


@dataclass(slots=True)
class _StagedOrder:
    """An order row staged in memory (an ORM object cost more to build than its trade)."""

    assignment_id: int
    account_id: int
    user_id: int
    intent_id: str
    leg: int
    client_order_id: int
    cid_date: str
    exchange: str
    symbol: str
    side: str
    amount: Decimal
    filled: Decimal
    fee: Decimal
    status: str
    candle_time_ms: int
    created_ms: int
    updated_ms: int
    price: Decimal | None = None
    fee_currency: str | None = None
    error: str | None = None
    exchange_order_id: str | None = None
    id: int = 0


@dataclass
class _Staged:
    """The rows a batch adds, committed together."""

    orders: list[_StagedOrder] = field(default_factory=list)
    reports: dict[int, OrderReport] = field(default_factory=dict)  # id(order row) -> its paper fill
    # The accounts traded, each taken once per batch: its staged fills are only in this one.
    venues: dict[int, PaperVenue] = field(default_factory=dict)


class PaperLane:
    def __init__(
        self,
        engine: AsyncEngine,
        records: IntentRecords,
        market_of: MarketOf,
        all_markets: AllMarkets,
        prices: LatestPrices,
        max_legs: int,
    ) -> None:
        self.engine = engine
        self.records = records
        self.market_of = market_of
        self.all_markets = all_markets
        self.prices = prices
        self.max_legs = max_legs
        self._venues: dict[int, PaperVenue] = {}  # account id -> the paper account, as recorded
        self.books = SliceBooks()  # each slice's book, as recorded

    async def venue(self, account: TradingAccountRow, newest_fill: int | None = None) -> PaperVenue:
        """The account as recorded: the cached one while it includes the newest recorded fill."""
        if newest_fill is None:
            newest_fill = await last_fill_id(self.engine, account.id)
        cached = self._venues.get(account.id)
        if cached is None or cached.last_fill_id != newest_fill:
            cached = await rebuild_paper_venue(self.engine, account, await self.all_markets())
            self._venues[account.id] = cached
        return cached

    async def execute(self, intents: Sequence[OrderIntent], executor: Executor) -> list[Outcome]:
        """Each intent's outcome, in order. Runs of intents with nothing recorded go in one
        transaction; one that finds records goes to `executor` (it continues from them)."""
        outcomes: list[Outcome] = []
        rest = list(intents)
        while rest:
            known = await self._read(rest)
            run = 0
            while run < len(rest) and rest[run].intent_id not in known.recorded:
                run += 1
            if run:
                outcomes += await self._trade_run(rest[:run], known)
                rest = rest[run:]
            else:
                outcomes.append(await self._continue(rest[0], executor))
                rest = rest[1:]
        return outcomes

    async def _continue(self, intent: OrderIntent, executor: Executor) -> Outcome:
        """An intent with records: the executor continues from them (as the service calls it)."""
        try:
            return await executor.execute(intent)
        except InvalidOrder as exc:  # the market is gone: recorded once, never retried
            log.error("intent %s: %s", intent.intent_id, exc)
            await executor.note_unplaceable(intent, str(exc))
            return Outcome.DONE

    # ------------------------------------------------------------------ reading

    async def _read(self, intents: Sequence[OrderIntent]) -> _Known:
        assignment_ids = sorted({i.assignment_id for i in intents})
        intent_ids = sorted({i.intent_id for i in intents})
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            contexts = await _contexts(session, assignment_ids)
            recorded = set(
                await session.scalars(
                    select(OrderRow.intent_id).where(OrderRow.intent_id.in_(intent_ids)).distinct()
                )
            )
            newest = await session.execute(
                select(DecisionRow.assignment_id, func.max(DecisionRow.candle_time_ms))
                .where(DecisionRow.assignment_id.in_(assignment_ids), DecisionRow.stale.is_(False))
                .group_by(DecisionRow.assignment_id)
            )
            newest_decision = {int(a): int(t) for a, t in newest.all()}
            allocations = {a: c.assignment.allocation for a, c in contexts.items()}
            stored = await self.books.read(session, allocations)
            account_ids = sorted({c.account.id for c in contexts.values()})
            newest_fills = await session.execute(
                select(FillRow.account_id, func.max(FillRow.id))
                .where(FillRow.account_id.in_(account_ids))
                .group_by(FillRow.account_id)
            )
            newest_fill = {int(a): int(f) for a, f in newest_fills.all()}
        return _Known(contexts, recorded, newest_decision, stored, newest_fill)

    # ------------------------------------------------------------------ trading

    async def _trade_run(self, intents: Sequence[OrderIntent], known: _Known) -> list[Outcome]:
        staged = _Staged()
        seen: set[str] = set()
        try:
            for intent in intents:
                if intent.intent_id not in seen:  # the same intent twice in a batch trades once
                    seen.add(intent.intent_id)
                    await self._trade(intent, known, staged)
            fill_ids = await self._commit(staged)
        except BaseException:
            for venue in staged.venues.values():  # ahead of the records: rebuilt next time
                venue.forget()
            raise
        self._keep_books(known, staged, fill_ids)
        for row in staged.orders:
            await self.records.publish(row)
        return [Outcome.DONE] * len(intents)

    async def _trade(self, intent: OrderIntent, known: _Known, staged: _Staged) -> None:
        """Stage what the executor would record for `intent`: its fills, or why nothing traded."""
        context = known.contexts.get(intent.assignment_id)
        if context is None:
            log.warning(
                "intent %s: assignment %d is not in the database; dropped",
                intent.intent_id,
                intent.assignment_id,
            )
            return
        # The executor's order of checks, so both record the same: the market, a newer
        # decision, then the plan, and a refusal (a pause) only when there is an order to place.
        try:
            market = await self.market_of(intent.symbol)
        except InvalidOrder as exc:  # the market is gone: nothing can be placed for this decision
            self._note(intent, context, 0, str(exc), staged)
            return
        newest = known.newest_decision.get(intent.assignment_id)
        if newest is not None and newest > intent.candle_time_ms:
            reason = f"superseded by the decision on the candle of {format_time_ms(newest)}"
            self._note(intent, context, 0, reason, staged)
            return
        account_id = context.account.id
        venue = staged.venues.get(account_id)
        if venue is None:
            venue = await self.venue(context.account, known.newest_fill.get(account_id, 0))
            staged.venues[account_id] = venue
        price = self.prices.for_intent(intent)
        venue.quote(intent.symbol, price)
        allocation = context.assignment.allocation
        recorded = known.books.get(intent.assignment_id)
        if recorded is None:
            stored = known.stored[intent.assignment_id]
            recorded = self.books.book(intent.assignment_id, allocation, market.base, market.quote, stored)
            known.books[intent.assignment_id] = recorded
            known.currencies[intent.assignment_id] = (market.base, market.quote)
        fills = known.staged_fills.setdefault(intent.assignment_id, [])
        for leg in range(self.max_legs):
            book = replay(allocation, market.base, market.quote, fills, start=recorded)
            free = await venue.free_balances()
            plan = plan_next(intent.target, book, market, free, Pricing(price, venue.buy_reserve))
            if plan.kind is not PlanKind.ORDER or plan.order is None:
                if leg == 0 and plan.kind is PlanKind.BELOW_MINIMUM:
                    self._note(intent, context, 0, "nothing to do: " + plan.reason, staged)
                return
            refusal = context.refusal()
            if refusal is not None:
                if leg == 0:
                    self._note(intent, context, 0, refusal, staged)
                return
            fields = order_fields(
                intent, context, leg, plan.order.side, plan.order.amount, self.records.now_ms()
            )
            row = _StagedOrder(**fields)
            staged.orders.append(row)
            try:
                report = await venue.place(row.symbol, plan.order.side, row.amount, row.client_order_id)
            except (InsufficientFunds, InvalidOrder, DuplicateClientOrderId) as exc:
                row.status, row.error = OrderState.REJECTED.value, str(exc)
                return
            row.status = OrderState.FILLED.value
            row.exchange_order_id = report.order_id
            staged.reports[id(row)] = report
            fills.append(_ledger_fill(row, report))
        log.warning("intent %s: stopped after %d orders", intent.intent_id, self.max_legs)

    def _note(self, intent: OrderIntent, context: Context, leg: int, reason: str, staged: _Staged) -> None:
        fields = order_fields(intent, context, leg, side_for(intent), Decimal(0), self.records.now_ms())
        row = _StagedOrder(**fields)
        row.status, row.error = OrderState.CANCELED.value, note_error(reason)
        staged.orders.append(row)
        log.info("intent %s: %s", intent.intent_id, reason)

    def _keep_books(self, known: _Known, staged: _Staged, fill_ids: Mapping[int, int]) -> None:
        """The batch's fills are recorded: each slice's kept book moves on by them, so the next
        batch has nothing to read for it (unless someone else recorded fills meanwhile)."""
        newest: dict[int, int] = {}
        for row in staged.orders:
            if row.id in fill_ids:
                newest[row.assignment_id] = max(newest.get(row.assignment_id, 0), fill_ids[row.id])
        for assignment_id, newest_id in newest.items():
            fills = known.staged_fills[assignment_id]
            base, quote = known.currencies[assignment_id]
            # Continued from the recorded book, so the allocation (0 here) plays no part.
            book = replay(Decimal(0), base, quote, fills, start=known.books[assignment_id])
            self.books.recorded(assignment_id, book, len(fills), newest_id)

    async def _commit(self, staged: _Staged) -> dict[int, int]:
        """Every staged order, and the fill of each filled one, in one transaction (two statements:
        the unit of work's per-object bookkeeping cost more than the trading); each filled
        order's fill id, by order id."""
        if not staged.orders:
            return {}
        fills: list[tuple[_StagedOrder, LedgerFill]] = []
        recorded_ms = self.records.now_ms()  # what watchers and the benchmark read as "recorded"
        for row in staged.orders:
            row.updated_ms = recorded_ms
            report = staged.reports.get(id(row))
            if report is not None:
                fill = _ledger_fill(row, report)
                row.filled, row.price, row.fee = fill.amount, fill.price, fill.fee
                row.fee_currency = fill.fee_currency or None
                fills.append((row, fill))
        async with self.records.writing() as session:
            conn = await session.connection()
            # Core inserts (the ORM's bulk path added a third to the cost). RETURNING in parameter
            # order costs SQLite a statement per row: keyed instead.
            inserted = await conn.execute(
                insert(_ORDERS).returning(_ORDERS.c.id, _ORDERS.c.intent_id, _ORDERS.c.leg),
                [_columns(row) for row in staged.orders],
            )
            ids = {(intent, leg): order_id for order_id, intent, leg in inserted.all()}
            for row in staged.orders:
                row.id = ids[(row.intent_id, row.leg)]
            fill_ids: dict[int, int] = {}
            if fills:
                added = await conn.execute(
                    insert(_FILLS).returning(_FILLS.c.id, _FILLS.c.order_id),
                    [_fill_columns(row, fill) for row, fill in fills],
                )
                fill_ids = {order_id: fill_id for fill_id, order_id in added.all()}
            await session.commit()
        for row, _ in fills:
            staged.venues[row.account_id].recorded(fill_ids[row.id])
        return fill_ids


_SLICE_TERMS = id_list_query(
    "SELECT id, account_id, user_id, allocation, enabled, disabled_reason FROM assignments WHERE id IN :ids[]"
)


async def _contexts(session: AsyncSession, assignment_ids: list[int]) -> dict[int, Context]:
    """Each assignment's terms, account and user: the terms through the driver (an ORM row of
    each assignment cost more than the rest of the read), whole rows of the few accounts and users."""
    terms = await select_rows(await session.connection(), _SLICE_TERMS, {"ids": assignment_ids})
    account_ids = sorted({int(row[1]) for row in terms})
    user_ids = sorted({int(row[2]) for row in terms})
    accounts = await session.scalars(select(TradingAccountRow).where(TradingAccountRow.id.in_(account_ids)))
    by_account = {account.id: account for account in accounts}
    users = await session.scalars(select(UserRow).where(UserRow.id.in_(user_ids)))
    by_user = {user.id: user for user in users}
    contexts: dict[int, Context] = {}
    for assignment_id, account_id, user_id, allocation, enabled, disabled_reason in terms:
        if account_id in by_account and user_id in by_user:
            # A Money column holds the amount's exact string, as Money reads it.
            slice_terms = SliceTerms(Decimal(allocation), bool(enabled), disabled_reason)
            contexts[int(assignment_id)] = Context(slice_terms, by_account[account_id], by_user[user_id])
    return contexts


_ORDERS = cast(Table, OrderRow.__table__)
_FILLS = cast(Table, FillRow.__table__)
_ORDER_COLUMNS = [c.key for c in _ORDERS.columns if c.key != "id"]


def _columns(row: _StagedOrder) -> dict[str, object]:
    return {key: getattr(row, key) for key in _ORDER_COLUMNS}


def _fill_columns(row: _StagedOrder, fill: LedgerFill) -> dict[str, object]:
    return {
        "order_id": row.id,
        "assignment_id": row.assignment_id,
        "account_id": row.account_id,
        "side": fill.side,
        "amount": fill.amount,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "time_ms": fill.time_ms,
    }


def _ledger_fill(row: _StagedOrder, report: OrderReport) -> LedgerFill:
    """A paper order's one fill (all of it at once): what `storage.orders.apply_fill_report` records
    for a first report."""
    assert report.average_price is not None, "a paper order fills at once, at a price"
    return LedgerFill(
        side=row.side,
        amount=report.filled,
        price=report.average_price,
        fee=report.fee,
        fee_currency=report.fee_currency or "",
        time_ms=report.timestamp_ms,
    )
