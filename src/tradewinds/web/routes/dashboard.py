"""The morning view: total equity over time, each assignment's P&L, recent trades and errors.

Equity over time is recomputed from the records: each assignment's slice replayed through its
fills, marked at its market's closes, summed. Nothing is kept as a running total.
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


def curve_grid(first_ms: int, now_ms: int, points: int = 400) -> np.ndarray:
    """Times from the first assignment to now (at most 30 days), minute-aligned, ~`points` long."""
    start = max(first_ms, now_ms - _CURVE_DAYS * 86_400_000)
    start -= start % 60_000
    step = max(60_000, -(-(now_ms - start) // points // 60_000) * 60_000)
    grid: np.ndarray = np.r_[np.arange(start, now_ms, step, dtype=np.int64), np.int64(now_ms)]
    return grid


def slice_value_curve(
    allocation: Decimal, symbol: str, fills: list[LedgerFill], grid: np.ndarray, marks: np.ndarray
) -> np.ndarray:
    """The slice's equity at each grid time: what its fills up to then hold, at that time's price."""
    base, _, quote = symbol.partition("/")
    books = []
    for k in range(len(fills) + 1):
        try:
            books.append(replay(allocation, base, quote, fills[:k]))
        except LedgerError:  # shown as unchanged from the last readable book
            books.append(books[-1] if books else replay(allocation, base, quote, []))
    held = np.searchsorted(np.array([f.time_ms for f in fills], dtype=np.int64), grid, side="right")
    quote_held = np.array([float(b.quote) for b in books])[held]
    base_held = np.array([float(b.base) for b in books])[held]
    values: np.ndarray = quote_held + base_held * marks
    return values


async def _marks(store: CandleStore, exchange: str, symbol: str, grid: np.ndarray) -> np.ndarray | None:
    """The market's close at each grid time (from 1m candles over short spans, else 1h)."""
    frames = (
        (Timeframe.M1, Timeframe.H1) if grid[-1] - grid[0] <= 2 * 86_400_000 else (Timeframe.H1, Timeframe.M1)
    )
    for frame in frames:
        candles = await store.range_arrays(
            SeriesKey(exchange, symbol, frame), int(grid[0]) - 86_400_000, int(grid[-1])
        )
        if len(candles):
            times = (candles.time + frame.ms).astype(np.float64)  # a close is known at its bucket's end
            return np.interp(grid.astype(np.float64), times, candles.close)
    return None


@router.get("/dashboard", response_model=DashboardOut)
async def dashboard(user: CurrentUser, engine: Engine) -> DashboardOut:
    views = await assignments.list_assignments(engine, user)
    states = await assignment_states(engine, views)
    store = CandleStore(engine)
    now = now_ms()
    grid = curve_grid(min((v.created_ms for v in views), default=now), now)
    total_curve = np.zeros(len(grid))
    for view in views:
        marks = await _marks(store, view.exchange, view.symbol, grid)
        if marks is None:
            total_curve += float(view.allocation)
            continue
        fills = await fills_of_assignment(engine, view.id)
        total_curve += slice_value_curve(view.allocation, view.symbol, fills, grid, marks)
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
