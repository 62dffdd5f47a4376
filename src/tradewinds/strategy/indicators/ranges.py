"""How far prices range: highest, lowest, stddev, bollinger bands, atr."""

from __future__ import annotations

import numpy as np

from tradewinds.strategy.indicators.series import from_first_defined
from tradewinds.strategy.indicators.spec import FloatArray
from tradewinds.strategy.indicators.talib_order import running_mean, wilder
from tradewinds.strategy.indicators.windows import (
    window_highs,
    window_lows,
    window_square_deviations,
)


@from_first_defined
def highest(source: FloatArray, period: int) -> FloatArray:
    return window_highs(source, period)


@from_first_defined
def lowest(source: FloatArray, period: int) -> FloatArray:
    return window_lows(source, period)


@from_first_defined
def stddev(source: FloatArray, period: int, deviations: float) -> FloatArray:
    """Population standard deviation over the period, times `deviations` (TA-Lib STDDEV)."""
    return _deviation(source, period, deviations)


@from_first_defined
def bollinger(source: FloatArray, period: int, deviations: float) -> tuple[FloatArray, ...]:
    """Upper, middle (SMA) and lower band, `deviations` population standard deviations apart."""
    middle = running_mean(source, period)  # ta.sma's values: close() == middle() where equal
    spread = _deviation(source, period, deviations)
    upper = middle + spread
    lower = np.subtract(middle, spread, out=spread)
    return upper, middle, lower


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range: Wilder's average of the true range, from the second candle on."""
    true_range = high - low
    if len(close) > 1:
        gap = np.abs(high[1:] - close[:-1])
        np.maximum(true_range[1:], gap, out=true_range[1:])
        np.subtract(low[1:], close[:-1], out=gap)
        np.abs(gap, out=gap)
        np.maximum(true_range[1:], gap, out=true_range[1:])
    return wilder(true_range, period)  # ignores true_range[0]: no previous close


def _deviation(source: FloatArray, period: int, deviations: float) -> FloatArray:
    out = window_square_deviations(source, period)
    out /= period
    np.sqrt(out, out=out)
    out *= deviations
    return out


def range_lookback(period: int, deviations: float = 1.0) -> int:
    return period - 1


def atr_lookback(period: int) -> int:
    return period
