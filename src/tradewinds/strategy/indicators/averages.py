"""Moving averages of one source: sma, ema, wma, dema, tema, and MACD built from EMAs."""

from __future__ import annotations

import numpy as np

from tradewinds.strategy.indicators.series import from_first_defined
from tradewinds.strategy.indicators.spec import FloatArray
from tradewinds.strategy.indicators.talib_order import running_mean, seeded_ema
from tradewinds.strategy.indicators.windows import window_weighted_sums


@from_first_defined
def sma(source: FloatArray, period: int) -> FloatArray:
    """TA-Lib's running total, not exact window sums: its first value must be the EMA's seed."""
    return running_mean(source, period)


@from_first_defined
def ema(source: FloatArray, period: int) -> FloatArray:
    return seeded_ema(source, period)


@from_first_defined
def wma(source: FloatArray, period: int) -> FloatArray:
    out = window_weighted_sums(source, period)
    out /= period * (period + 1) / 2
    return out


@from_first_defined
def dema(source: FloatArray, period: int) -> FloatArray:
    once = seeded_ema(source, period)
    twice = seeded_ema(once, period, start=period - 1)
    once *= 2.0
    once -= twice
    return once


@from_first_defined
def tema(source: FloatArray, period: int) -> FloatArray:
    once = seeded_ema(source, period)
    twice = seeded_ema(once, period, start=period - 1)
    thrice = seeded_ema(twice, period, start=2 * (period - 1))
    # TA-Lib's grouping: third + (3 * first - 3 * second).
    once *= 3.0
    twice *= 3.0
    once -= twice
    thrice += once
    return thrice


@from_first_defined
def macd(source: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, ...]:
    """MACD line, signal line and histogram, all defined from the signal's first value (TA-Lib)."""
    fast, slow = min(fast, slow), max(fast, slow)  # TA-Lib swaps them too
    # Both averages start at the slow one's first index: the fast EMA is seeded with the mean
    # of the `fast` values ending there, not with the series' first `fast` values.
    line = seeded_ema(source, fast, start=slow - fast)
    line -= seeded_ema(source, slow)
    signal_line = seeded_ema(line, signal, start=slow - 1)
    line[: min(len(line), macd_lookback(fast, slow, signal))] = np.nan
    return line, signal_line, line - signal_line


def moving_average_lookback(period: int) -> int:
    return period - 1


def dema_lookback(period: int) -> int:
    return 2 * (period - 1)


def tema_lookback(period: int) -> int:
    return 3 * (period - 1)


def macd_lookback(fast: int, slow: int, signal: int) -> int:
    return max(fast, slow) - 1 + signal - 1
