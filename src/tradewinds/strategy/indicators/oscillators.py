"""Momentum oscillators: rsi, stoch, willr, cci, roc, mom."""

from __future__ import annotations

import numpy as np

from tradewinds.strategy.indicators.averages import sma
from tradewinds.strategy.indicators.series import FLAT, from_first_defined, lagged, ratio, typical_price
from tradewinds.strategy.indicators.spec import FloatArray
from tradewinds.strategy.indicators.windows import (
    window_abs_deviations,
    window_highs,
    window_lows,
    window_sums,
)


@from_first_defined
def rsi(source: FloatArray, period: int) -> FloatArray:
    """Wilder's RSI, 0-100; 0 while there has been neither gain nor loss (TA-Lib).

    Average gain and loss start at index `period` as the means of the first `period` changes,
    then follow avg += (change - avg) / period: one IIR filter over both rows.
    """
    out = np.full(len(source), np.nan)
    if len(source) <= period:
        return out
    moves = np.empty((2, len(source) - 1))
    np.subtract(source[1:], source[:-1], out=moves[0])
    np.negative(moves[0], out=moves[1])
    np.maximum(moves, 0.0, out=moves)
    seed = moves[:, :period].mean(axis=1)
    alpha = 1.0 / period
    from scipy.signal import lfilter  # here, not at the top: 0.5 s to import

    later, _ = lfilter(
        [alpha], [1.0, alpha - 1.0], moves[:, period:], axis=1, zi=(1.0 - alpha) * seed[:, None]
    )
    gain, loss = later[0], later[1]
    out[period] = 100.0 * _share(seed[0], seed[0] + seed[1])
    total = gain + loss
    np.divide(gain, total, out=gain, where=total != 0)
    np.copyto(gain, 0.0, where=total == 0)
    np.multiply(gain, 100.0, out=out[period + 1 :])
    return out


def _share(part: float, whole: float) -> float:
    return part / whole if whole != 0 else 0.0


def stoch(
    high: FloatArray, low: FloatArray, close: FloatArray, k_period: int, k_smooth: int, d_period: int
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): %K and %D, 0-100."""
    highest, lowest = window_highs(high, k_period), window_lows(low, k_period)
    spread = _range_or_zero(highest, lowest)
    spread /= 100.0
    np.subtract(close, lowest, out=lowest)
    fast_k = ratio(lowest, spread)
    fast_k[: k_period - 1] = np.nan
    slow_k = sma(fast_k, k_smooth)
    slow_d = sma(slow_k, d_period)
    slow_k[: min(len(slow_k), k_period + k_smooth + d_period - 3)] = np.nan
    return slow_k, slow_d


def willr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Williams %R, -100 (close at the period's low) to 0 (at its high)."""
    highest, lowest = window_highs(high, period), window_lows(low, period)
    spread = _range_or_zero(highest, lowest)
    spread /= -100.0
    np.subtract(highest, close, out=highest)
    out = ratio(highest, spread)
    out[: period - 1] = np.nan
    return out


def cci(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Commodity channel index: (typical - its mean) / (0.015 * mean absolute deviation)."""
    typical = typical_price(high, low, close)
    mean = window_sums(typical, period)
    mean /= period
    deviation = window_abs_deviations(typical, mean, period)
    deviation /= period
    above = typical - mean
    # TA-Lib's flat-window test: deviations within rounding of the price level count as none.
    level = np.abs(mean, out=mean)
    level *= FLAT
    flat = np.abs(above) <= level
    flat |= deviation <= level
    deviation *= 0.015
    out = ratio(above, deviation)
    np.copyto(out, 0.0, where=flat)
    out[: period - 1] = np.nan
    return out


@from_first_defined
def roc(source: FloatArray, period: int) -> FloatArray:
    """Rate of change in percent, (value / value `period` ago - 1) * 100; 0 after a zero value."""
    previous = lagged(source, period)
    out = ratio(source, previous, zero=1.0)
    out -= 1.0
    out *= 100.0
    return out


@from_first_defined
def mom(source: FloatArray, period: int) -> FloatArray:
    return source - lagged(source, period)


def _range_or_zero(highest: FloatArray, lowest: FloatArray) -> FloatArray:
    """highest - lowest, 0 where that is rounding residue (TA-Lib's flat-range test)."""
    spread = highest - lowest
    scale = np.abs(highest) + np.abs(lowest)
    scale *= FLAT
    np.copyto(spread, 0.0, where=np.abs(spread) <= scale)
    return spread


def rsi_lookback(period: int) -> int:
    return period


def stoch_lookback(k_period: int, k_smooth: int, d_period: int) -> int:
    return k_period - 1 + k_smooth - 1 + d_period - 1


def window_lookback(period: int) -> int:
    return period - 1


def change_lookback(period: int) -> int:
    return period
