"""What the database says about live trading right now, for `tradewinds status` and `up`'s view.

Positions and P&L are replayed from the fills (domain/ledger.py), never read from a running
figure; unrealised P&L values the base held at the market's newest stored 1-minute close.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.ledger import LedgerError, LedgerFill, equity, held_position, replay, unrealized_pnl
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.trading_models import (
    AssignmentRow,
    FillRow,
    OrderRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
    UserRow,
)

FAILED_OUTCOMES = ("error", "timeout", "memory")
FAILED_ORDERS = ("failed", "rejected")


class AssignmentView(msgspec.Struct, frozen=True):
    id: int
    user: str
    strategy: str
    version: int
    exchange: str
    symbol: str
    timeframe: str
    account: str
    enabled: bool
    position: str  # what the fills hold: long (base units held) or short
    target: str  # what was last decided
    base_held: Decimal
    quote_held: Decimal
    price: float | None  # the market's newest stored close
    equity: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    fills: int
    last_eval_candle_ms: int | None
    last_eval_outcome: str | None
    last_eval_message: str | None
    disabled_reason: str | None
    ledger_error: str | None = None


class OrderLine(msgspec.Struct, frozen=True):
    id: int
    assignment_id: int
    side: str
    amount: Decimal
    price: Decimal | None
    status: str
    error: str | None
    updated_ms: int


class TradingSnapshot(msgspec.Struct, frozen=True):
    assignments: list[AssignmentView]
    evaluated_last_minute: int  # assignments whose last evaluation is under a minute old
    orders_by_status: dict[str, int]
    orders_last_hour: int
    recent_orders: list[OrderLine]  # newest first
    failed_orders: list[OrderLine]  # newest first
    fills: int


async def read_snapshot(engine: AsyncEngine, now_ms: int, recent: int = 10) -> TradingSnapshot:
    async with AsyncSession(engine) as conn:
        rows = (await conn.execute(_assignments_query())).all()
        fills = (await conn.execute(select(FillRow).order_by(FillRow.time_ms, FillRow.id))).scalars().all()
        by_status: dict[str, int] = {
            str(k): int(n) for k, n in (await conn.execute(_orders_by_status())).all()
        }
        last_hour = (
            await conn.execute(
                select(func.count(OrderRow.id)).where(OrderRow.created_ms >= now_ms - 3_600_000)
            )
        ).scalar_one()
        newest = select(OrderRow).order_by(OrderRow.updated_ms.desc(), OrderRow.id.desc()).limit(recent)
        recent_orders = (await conn.execute(newest)).scalars().all()
        failed = (await conn.execute(newest.where(OrderRow.status.in_(FAILED_ORDERS)))).scalars().all()
    fills_of: dict[int, list[LedgerFill]] = defaultdict(list)
    for fill in fills:
        fills_of[fill.assignment_id].append(
            LedgerFill(fill.side, fill.amount, fill.price, fill.fee, fill.fee_currency, fill.time_ms)
        )
    prices = await _latest_prices(engine, {(r.AssignmentRow.exchange, r.AssignmentRow.symbol) for r in rows})
    views = [
        _view(
            r,
            fills_of.get(r.AssignmentRow.id, []),
            prices.get((r.AssignmentRow.exchange, r.AssignmentRow.symbol)),
        )
        for r in rows
    ]
    return TradingSnapshot(
        assignments=views,
        evaluated_last_minute=sum(
            1
            for v in (r.AssignmentRow for r in rows)
            if v.last_eval_ms is not None and v.last_eval_ms >= now_ms - 60_000
        ),
        orders_by_status={str(k): int(v) for k, v in by_status.items()},
        orders_last_hour=int(last_hour),
        recent_orders=[_order_line(o) for o in recent_orders],
        failed_orders=[_order_line(o) for o in failed],
        fills=len(fills),
    )


def _assignments_query() -> Any:  # a five-entity select's type says nothing useful
    return (
        select(
            AssignmentRow,
            UserRow.email,
            StrategyRow.name.label("strategy"),
            StrategyVersionRow.number.label("version"),
            TradingAccountRow.name.label("account"),
        )
        .join(StrategyVersionRow, StrategyVersionRow.id == AssignmentRow.version_id)
        .join(StrategyRow, StrategyRow.id == StrategyVersionRow.strategy_id)
        .join(UserRow, UserRow.id == AssignmentRow.user_id)
        .join(TradingAccountRow, TradingAccountRow.id == AssignmentRow.account_id)
        .order_by(AssignmentRow.id)
    )


def _orders_by_status() -> Any:
    return select(OrderRow.status, func.count(OrderRow.id)).group_by(OrderRow.status)


async def _latest_prices(engine: AsyncEngine, markets: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
    store = CandleStore(engine)
    prices: dict[tuple[str, str], float] = {}
    for exchange, symbol in sorted(markets):
        last = await store.last(SeriesKey(exchange, symbol, Timeframe.M1), 1)
        if last:
            prices[(exchange, symbol)] = last[-1].close
    return prices


def _view(row: object, fills: list[LedgerFill], price: float | None) -> AssignmentView:
    a: AssignmentRow = row.AssignmentRow  # type: ignore[attr-defined]
    base_currency, _, quote_currency = a.symbol.partition("/")
    problem: str | None = None
    try:
        book = replay(a.allocation, base_currency, quote_currency, fills)
    except LedgerError as exc:  # shown, not fatal: the status must still come up
        problem = str(exc)
        book = replay(a.allocation, base_currency, quote_currency, [])
    value = None if price is None else Decimal(repr(price)).normalize()  # 110.0 -> 110, not 110.0
    return AssignmentView(
        id=a.id,
        user=row.email,  # type: ignore[attr-defined]
        strategy=row.strategy,  # type: ignore[attr-defined]
        version=row.version,  # type: ignore[attr-defined]
        exchange=a.exchange,
        symbol=a.symbol,
        timeframe=a.timeframe,
        account=row.account,  # type: ignore[attr-defined]
        enabled=a.enabled,
        position=held_position(book, value),
        target=a.target,
        base_held=book.base,
        quote_held=book.quote,
        price=price,
        equity=None if value is None else equity(book, value),
        realized_pnl=book.realized_pnl,
        unrealized_pnl=Decimal(0) if value is None else unrealized_pnl(book, value),
        fees=book.fees,
        fills=len(fills),
        last_eval_candle_ms=a.last_eval_candle_ms,
        last_eval_outcome=a.last_eval_outcome,
        last_eval_message=a.last_eval_message,
        disabled_reason=a.disabled_reason,
        ledger_error=problem,
    )


def _order_line(o: OrderRow) -> OrderLine:
    return OrderLine(o.id, o.assignment_id, o.side, o.amount, o.price, o.status, o.error, o.updated_ms)
