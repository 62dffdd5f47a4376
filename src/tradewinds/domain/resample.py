"""Roll a candle series up into a larger timeframe, as resampling the series would.

Each output candle covers one UTC-aligned bucket that holds at least one input candle: open of the
first, highest high, lowest low, close of the last, summed volume. Buckets without input candles
produce no candle (exchanges send none for periods without trades).
"""

from __future__ import annotations

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.timeframes import Timeframe


def resample_candles(candles: CandleArrays, timeframe: Timeframe) -> CandleArrays:
    """Candles of `timeframe` built from `candles` (ascending, of a timeframe dividing it)."""
    if len(candles) == 0:
        return candles
    buckets = candles.time - candles.time % timeframe.ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(candles)] - 1
    return CandleArrays(
        time=buckets[starts],
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends],
        volume=np.add.reduceat(candles.volume, starts),
    )
