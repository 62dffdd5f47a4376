"""Recursive smoothing (EMA, Wilder's average) as one vectorised IIR filter call each."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from tradewinds.strategy.indicators.series import undefined
from tradewinds.strategy.indicators.spec import FloatArray


def exponential(values: FloatArray, alpha: float, seed: float) -> FloatArray:
    """y[i] = y[i-1] + alpha * (values[i] - y[i-1]), starting from y[-1] = seed."""
    if len(values) == 0:
        return np.empty(0)
    smoothed, _ = lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * seed])
    return np.asarray(smoothed, dtype=np.float64)


def seeded_ema(values: FloatArray, period: int, start: int = 0) -> FloatArray:
    """EMA of values[start:] whose first value, at start + period - 1, is the mean of the first
    `period` values (TA-Lib's convention), with alpha = 2 / (period + 1). NaN before."""
    out = undefined(len(values))
    first = start + period - 1
    if first < len(values):
        seed = float(np.mean(values[start : first + 1]))
        out[first] = seed
        out[first + 1 :] = exponential(values[first + 1 :], 2.0 / (period + 1), seed)
    return out


def wilder(values: FloatArray, period: int) -> FloatArray:
    """Wilder's average of values[1:] (values[0] is ignored: a change has no first value).

    The first average, at index `period`, is the mean of values[1 : period + 1]; after that
    avg = avg + (value - avg) / period.
    """
    out = undefined(len(values))
    if len(values) > period:
        seed = float(np.mean(values[1 : period + 1]))
        out[period] = seed
        out[period + 1 :] = exponential(values[period + 1 :], 1.0 / period, seed)
    return out
