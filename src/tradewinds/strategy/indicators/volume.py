"""Indicators weighing price by traded volume: obv, vwap, mfi."""

from __future__ import annotations

import numpy as np

from tradewinds.strategy.indicators.series import FLAT, ratio, typical_price, undefined
from tradewinds.strategy.indicators.spec import FloatArray
from tradewinds.strategy.indicators.windows import window_sums


def obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    """On-balance volume from the first candle's volume: + volume on up closes, - on down."""
    if len(close) == 0:
        return np.empty(0)
    signed = np.sign(np.diff(close, prepend=close[0]))
    signed *= volume
    signed[0] = volume[0]
    return np.cumsum(signed, out=signed)


def vwap(high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int) -> FloatArray:
    """Rolling volume-weighted typical price ((high + low + close) / 3) over `period` candles.

    A window without any volume has no traded price; it takes the candle's typical price.
    """
    typical = typical_price(high, low, close)
    traded = window_sums(volume, period)
    out = window_sums(typical * volume, period)
    np.divide(out, traded, out=out, where=traded > 0)
    np.copyto(out, typical, where=traded <= 0)
    return out


def mfi(high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int) -> FloatArray:
    """Money flow index, 0-100: the share of the period's money flow on rising typical prices.

    As in TA-Lib, a typical price that moved by no more than rounding carries no flow, and a
    period without any flow reads 0.
    """
    n = len(close)
    if n <= period:
        return undefined(n)
    typical = typical_price(high, low, close)
    move = typical[1:] - typical[:-1]
    scale = np.abs(typical[1:]) + np.abs(typical[:-1])
    scale *= FLAT
    still = np.abs(move) <= scale
    flow = np.multiply(typical[1:], volume[1:], out=scale)
    np.copyto(flow, 0.0, where=still)
    total = window_sums(flow, period)
    np.copyto(flow, 0.0, where=move < 0)
    rising = window_sums(flow, period)
    out = undefined(n)
    out[1:] = ratio(rising, total)
    out[1:] *= 100.0
    out[:period] = np.nan
    return out


def obv_lookback() -> int:
    return 0


def vwap_lookback(period: int) -> int:
    return period - 1


def mfi_lookback(period: int) -> int:
    return period
