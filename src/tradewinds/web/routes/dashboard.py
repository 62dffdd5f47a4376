"""The morning view: total equity over time, each assignment's P&L, recent trades and errors.

Equity over time is recomputed from the records: each assignment's slice replayed through its
fills, marked at the hourly closes of its market, summed. Nothing is kept as a running total.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import numpy as np
from fastapi import APIRouter

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.ledger import LedgerError, LedgerFill, replay
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage import assignments
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.orders import fills_of_assignment
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.routes.assignments import assignment_states
from tradewinds.web.routes.orders import recent_orders
from tradewinds.web.schemas import ERROR_RESPONSES, DashboardOut, RecentError
from tradewinds.web.sessions import now_ms

router = APIRouter(responses=ERROR_RESPONSES, tags=["dashboard"])

_CURVE_DAYS = 30
_FAILED = ("error", "timeout", "memory")


def slice_value_curve(
    allocation: Decimal,
    symbol: str,
    fills: list[LedgerFill],
    times: np.ndarray,
    closes: np.ndarray,
    start_ms: int,
) -> np.ndarray:
    """The slice's equity at each time (its allocation before it started)."""
    base, _, quote = symbol.partition("/")
    values = np.full(len(times), float(allocation))
    done = 0
    for i, t in enumerate(times):
        while done < len(fills) and fills[done].time_ms <= t + 3_600_000:
            done += 1
        if t + 3_600_000 < start_ms:
            continue
        try:
            book = replay(allocation, base, quote, fills[:done])
        except LedgerError:
            continue
        values[i] = float(book.quote) + float(book.base) * float(closes[i])
    return values


@router.get("/dashboard", response_model=DashboardOut)
async def dashboard(user: CurrentUser, engine: Engine) -> DashboardOut:
    views = await assignments.list_assignments(engine, user)
    states = await assignment_states(engine, views)
    store = CandleStore(engine)
    now = now_ms()
    grid = np.arange(now - now % 3_600_000 - _CURVE_DAYS * 86_400_000, now, 3_600_000, dtype=np.int64)
    total_curve = np.zeros(len(grid))
    for view in views:
        closes_1h = await store.range_arrays(
            SeriesKey(view.exchange, view.symbol, Timeframe.H1), int(grid[0]), now
        )
        minutes = (
            await store.range_arrays(
                SeriesKey(view.exchange, view.symbol, Timeframe.M1), now - 3_600_000 * 24 * _CURVE_DAYS, now
            )
            if len(closes_1h) == 0
            else None
        )
        times, closes = (
            (closes_1h.time, closes_1h.close) if minutes is None else (minutes.time, minutes.close)
        )
        if len(times) == 0:
            total_curve += float(view.allocation)
            continue
        marks = np.interp(grid, times.astype(np.float64), closes, left=np.nan)
        marks = np.where(np.isnan(marks), closes[0], marks)
        fills = await fills_of_assignment(engine, view.id)
        total_curve += slice_value_curve(view.allocation, view.symbol, fills, grid, marks, view.created_ms)
    equity_now = sum((Decimal(s.equity) for s in states), Decimal(0))
    allocated = sum((Decimal(s.allocation) for s in states), Decimal(0))
    currencies = Counter(s.symbol.partition("/")[2] for s in states)
    orders, _ = await recent_orders(engine, user.id, limit=15)
    errors = [
        RecentError(
            assignment_id=v.id,
            strategy=v.strategy,
            message=v.last_eval_message or v.last_eval_outcome or "",
            candle_time_ms=v.last_eval_candle_ms,
        )
        for v in views
        if v.last_eval_outcome in _FAILED or (v.disabled_reason and not v.enabled)
    ]
    curve = [(int(t), round(float(v), 2)) for t, v in zip(grid, total_curve, strict=True)] if views else []
    if curve:
        curve.append((now, float(equity_now)))
    return DashboardOut(
        currency=currencies.most_common(1)[0][0] if currencies else "USD",
        total_equity=str(equity_now),
        total_allocation=str(allocated),
        total_pnl=str(equity_now - allocated),
        equity=curve,
        assignments=states,
        recent_orders=orders,
        recent_errors=errors[:15],
        trading_paused=user.trading_paused,
    )
