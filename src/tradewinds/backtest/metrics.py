"""Figures a backtest reports, computed from the account and the candles."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tradewinds.backtest.portfolio import Account
from tradewinds.domain.candle_arrays import CandleArrays

_YEAR_MS = 365.25 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Metrics:
    final_equity: float
    total_return: float  # fraction: 0.25 is +25 %
    buy_hold_return: float
    trades: int  # orders filled
    win_rate: float  # fraction of closed round trips (buy then sell) that ended with more cash
    max_drawdown: float  # fraction, positive: 0.2 is a 20 % fall from a peak
    sharpe: float
    exposure: float  # fraction of candles during which the asset was held
    warmup_candles: int


def compute_metrics(
    candles: CandleArrays, account: Account, cash: float, fee: float, warmup_candles: int
) -> Metrics:
    equity = account.equity
    final = float(equity[-1]) if len(equity) else cash
    return Metrics(
        final_equity=final,
        total_return=final / cash - 1,
        buy_hold_return=buy_hold_return(candles, fee),
        trades=len(account.table),
        win_rate=win_rate(account),
        max_drawdown=max_drawdown(equity, cash),
        sharpe=sharpe_ratio(equity, candles),
        exposure=float(np.mean(account.holding)) if len(account.holding) else 0.0,
        warmup_candles=warmup_candles,
    )


def buy_hold_return(candles: CandleArrays, fee: float) -> float:
    """Buy at the first candle's close paying the fee, marked at the last close (no sale)."""
    if len(candles) == 0:
        return 0.0
    return float((1 - fee) * candles.close[-1] / candles.close[0] - 1)


def win_rate(account: Account) -> float:
    """Share of round trips (a buy and the sell that closes it) returning more cash; 0 if none."""
    table = account.table
    trips = len(table) // 2
    if trips == 0:
        return 0.0
    spent = (table.units * table.price + table.fee)[0 : 2 * trips : 2]
    returned = table.cash_after[1 : 2 * trips : 2]
    return float(np.mean(returned > spent))


def max_drawdown(equity: np.ndarray, cash: float) -> float:
    """The largest fall from a running peak that starts at the starting cash (the first fee is a
    fall too)."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    np.maximum(peaks, cash, out=peaks)
    lows = np.divide(equity, peaks, out=peaks)  # in place: a year of minutes is 4 MB a temporary
    return float(1 - lows.min())  # 1 - x rounds monotonically: max(1 - x) == 1 - min(x)


def sharpe_ratio(equity: np.ndarray, candles: CandleArrays) -> float:
    """Annualised: mean / std of per-candle simple returns x sqrt(candles per year); 0 if flat.

    Candles per year come from the median spacing of the candles (no risk-free rate).
    """
    if len(equity) < 3:
        return 0.0
    returns = np.diff(equity) / equity[:-1]
    deviation = float(np.std(returns, ddof=1))
    if deviation == 0 or not math.isfinite(deviation):
        return 0.0
    spacing = float(np.median(np.diff(candles.time)))
    per_year = _YEAR_MS / spacing if spacing > 0 else 0.0
    return float(np.mean(returns) / deviation * math.sqrt(per_year))
