"""Each assignment's slice as monitoring sees it: position and P&L replayed from its fills.

Nothing here is a running total: the ledger (`domain/ledger.py`) replays the fills table every
time, and unrealised P&L values the base held at the market's latest stored 1-minute close.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.ledger import LedgerError, LedgerFill, equity, held_position, replay, unrealized_pnl
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms
from tradewinds.storage.assignments import AssignmentView, list_assignments
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.trading_models import AssignmentRow, FillRow
from tradewinds.storage.users import User

_ERROR_OUTCOMES = ("error", "timeout", "memory")


class LastEvaluation(msgspec.Struct, frozen=True):
    candle_time_ms: int
    candle_time: str
    outcome: str  # decided, kept, warming_up, error, timeout, memory, stale, ...
    result: str  # the target decided ("long"/"short"), else the outcome
    error: str | None  # the strategy's error with its line, when it failed
    message: str | None


class AssignmentSlice(msgspec.Struct, frozen=True):
    id: int
    user: str
    strategy: str
    version: int
    exchange: str
    symbol: str
    timeframe: str
    account: str
    allocation: Decimal
    params: dict[str, object]
    enabled: bool
    disabled_reason: str | None
    trading_paused: bool  # the user's switch: no new orders while set
    account_paused_reason: str | None  # the exchange refused the account's keys
    target: str  # the last decided target
    position: str  # what the fills hold: long while the base held is worth a cent or more
    base_held: Decimal
    quote_held: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None  # None: no price stored for the market yet
    fees: Decimal
    equity: Decimal | None
    price: Decimal | None  # the latest stored 1m close
    fills: int
    last_evaluation: LastEvaluation | None
    ledger_error: str | None = None  # fills that do not add up: shown, never hidden


async def assignment_slices(engine: AsyncEngine, user: User) -> list[AssignmentSlice]:
    store = CandleStore(engine)
    prices: dict[tuple[str, str], Decimal | None] = {}
    fills = await _fills_of_user(engine, user)
    slices = []
    for assignment in await list_assignments(engine, user):
        market = (assignment.exchange, assignment.symbol)
        if market not in prices:
            prices[market] = await _latest_close(store, *market)
        slices.append(_slice(user, assignment, fills.get(assignment.id, []), prices[market]))
    return slices


async def _fills_of_user(engine: AsyncEngine, user: User) -> dict[int, list[LedgerFill]]:
    """Every fill of the user's assignments, oldest first per assignment, in one query
    (`storage.orders.fills_of_assignment` reads one assignment's; thousands would take seconds)."""
    query = (
        select(FillRow)
        .join(AssignmentRow, AssignmentRow.id == FillRow.assignment_id)
        .where(AssignmentRow.user_id == user.id)
        .order_by(FillRow.assignment_id, FillRow.id)
    )
    grouped: dict[int, list[LedgerFill]] = {}
    async with AsyncSession(engine) as session:
        for row in await session.scalars(query):
            fill = LedgerFill(row.side, row.amount, row.price, row.fee, row.fee_currency, row.time_ms)
            grouped.setdefault(row.assignment_id, []).append(fill)
    return grouped


def _slice(user: User, a: AssignmentView, fills: list[LedgerFill], price: Decimal | None) -> AssignmentSlice:
    problem = None
    try:
        book = replay(a.allocation, a.base, a.quote, fills)
    except LedgerError as exc:
        problem = str(exc)
        book = replay(a.allocation, a.base, a.quote, [])
    return AssignmentSlice(
        id=a.id,
        user=user.email,
        strategy=a.strategy,
        version=a.version,
        exchange=a.exchange,
        symbol=a.symbol,
        timeframe=a.timeframe,
        account=a.account,
        allocation=a.allocation,
        params=dict(a.params),
        enabled=a.enabled,
        disabled_reason=a.disabled_reason,
        trading_paused=user.trading_paused,
        account_paused_reason=a.account_paused_reason,
        target=a.target,
        position=held_position(book, price),
        base_held=book.base,
        quote_held=book.quote,
        realized_pnl=book.realized_pnl,
        unrealized_pnl=None if price is None else unrealized_pnl(book, price),
        fees=book.fees,
        equity=None if price is None else equity(book, price),
        price=price,
        fills=len(fills),
        last_evaluation=_last_evaluation(a),
        ledger_error=problem,
    )


def _last_evaluation(a: AssignmentView) -> LastEvaluation | None:
    if a.last_eval_candle_ms is None or a.last_eval_outcome is None:
        return None
    failed = a.last_eval_outcome in _ERROR_OUTCOMES
    return LastEvaluation(
        candle_time_ms=a.last_eval_candle_ms,
        candle_time=format_time_ms(a.last_eval_candle_ms),
        outcome=a.last_eval_outcome,
        result=a.last_eval_target or a.last_eval_outcome,
        error=a.last_eval_message if failed else None,
        message=None if failed else a.last_eval_message,
    )


async def _latest_close(store: CandleStore, exchange: str, symbol: str) -> Decimal | None:
    last = await store.last(SeriesKey(exchange, symbol, Timeframe.M1), 1)
    # The close is a float in storage: its shortest repr is the price the exchange sent.
    return Decimal(repr(last[-1].close)) if last else None
