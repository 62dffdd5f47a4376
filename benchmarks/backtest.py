"""Backtest speed: Tradewinds against a plain-Python loop of the same rule, one year of minutes.

Run: .venv/bin/python benchmarks/backtest.py
"""

from __future__ import annotations

import time

import numpy as np

from tradewinds.backtest.runner import run_backtest
from tradewinds.domain.candle_arrays import CandleArrays

CANDLES = 525_600  # one year of 1-minute candles
CASH, FEE = 10_000.0, 0.00002  # a tiny fee keeps equity meaningful over ~70k fills

EXAMPLE = """
local sma = ta.sma(10)
local ema = ta.ema(10)
if sma() > ema() then
  return "short"
else
  return "long"
end
"""

FIVE_INDICATORS = """
local fast, slow = ta.sma(20), ta.ema(50)
local r = ta.rsi(14)
local line, signal = ta.macd(12, 26, 9)
local upper, middle, lower = ta.bollinger(20, 2)
if fast() > slow() and line() > signal() and r() < 70 and close() < upper() then
  return "long"
elseif close() < lower() or r() > 80 then
  return "short"
end
"""


def year_of_minutes(seed: int = 2024) -> CandleArrays:
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, CANDLES)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 0.0004, CANDLES)) * close
    return CandleArrays(
        time=1_704_067_200_000 + np.arange(CANDLES, dtype=np.int64) * 60_000,
        open=open_,
        high=np.maximum(open_, close) + wick,
        low=np.minimum(open_, close) - wick,
        close=close,
        volume=rng.uniform(0.1, 5, CANDLES),
    )


def reference_loop(closes: list[float]) -> tuple[int, float]:
    """The example's rule written as a plain Python event loop (incremental SMA and EMA)."""
    window: list[float] = []
    total = 0.0
    ema: float | None = None
    k = 2 / 11
    cash, units, held, trades = CASH, 0.0, "short", 0
    for price in closes:
        window.append(price)
        total += price
        if len(window) > 10:
            total -= window.pop(0)
        if ema is None:
            if len(window) == 10:
                ema = total / 10
            else:
                continue
        else:
            ema = ema + k * (price - ema)
        target = "short" if total / 10 > ema else "long"
        if target != held:
            if target == "long":
                units, cash = cash * (1 - FEE) / price, 0.0
            else:
                cash, units = units * price * (1 - FEE), 0.0
            held, trades = target, trades + 1
    return trades, cash + units * closes[-1]


def best_of(runs: int, fn):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    candles = year_of_minutes()
    tw_seconds, result = best_of(5, lambda: run_backtest(EXAMPLE, candles, cash=CASH, fee=FEE))
    closes = candles.close.tolist()
    ref_seconds, (ref_trades, ref_equity) = best_of(1, lambda: reference_loop(closes))
    same = (
        result.metrics.trades == ref_trades
        and abs(result.metrics.final_equity - ref_equity) <= 1e-6 * ref_equity
    )
    print(f"candles: {CANDLES:,} (one year of 1-minute candles, seeded random walk)")
    print(
        f"tradewinds  example strategy: {tw_seconds * 1000:8.1f} ms  "
        f"{CANDLES / tw_seconds / 1e6:6.1f} M candles/s  "
        f"(trades {result.metrics.trades}, equity {result.metrics.final_equity:.6f})"
    )
    print(
        f"plain python reference loop:  {ref_seconds * 1000:8.1f} ms  "
        f"{CANDLES / ref_seconds / 1e6:6.2f} M candles/s  (trades {ref_trades}, equity {ref_equity:.6f})"
    )
    print(f"ratio tradewinds / reference: {ref_seconds / tw_seconds:.1f}x")
    print(f"same trades and equity: {'yes' if same else 'NO: MISMATCH'}")
    five_seconds, five = best_of(3, lambda: run_backtest(FIVE_INDICATORS, candles, cash=CASH, fee=FEE))
    print(
        f"five indicators (sma, ema, rsi, macd, bollinger): {five_seconds * 1000:.1f} ms "
        f"for the year (goal < 500 ms), {five.metrics.trades} trades"
    )
    print(
        "for context, reported elsewhere, not measured here: backtrader ~15 k candles/s, "
        "vectorbt ~5 M candles/s (vectorised), Jesse ~500 k candles/s (published fast mode)"
    )
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
