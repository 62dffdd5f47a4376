"""Roll a candle series up into a larger timeframe, as resampling the series would.

Each output candle covers one UTC-aligned bucket that holds at least one input candle: open of the
first, highest high, lowest low, close of the last, summed volume. Buckets without input candles
produce no candle (exchanges send none for periods without trades).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class ClosedRollup:
    """The rolled-up candles the live core would have closed, and the open times of the partial
    buckets left out at either end (None when that end was whole)."""

    candles: CandleArrays
    partial_first_ms: int | None
    partial_last_ms: int | None

    @property
    def partial_ms(self) -> tuple[int, ...]:
        return tuple(t for t in (self.partial_first_ms, self.partial_last_ms) if t is not None)


def closed_rollup(candles: CandleArrays, timeframe: Timeframe, source_ms: int) -> ClosedRollup:
    """Candles of `timeframe` from `candles` of `source_ms` each, without partial end buckets.

    The live core publishes a bucket only once its period has ended, and builds it from all its
    minutes. So a first bucket the data starts after, and a last bucket whose period has not ended
    within the data (the last candle's end, its time + `source_ms`), are left out: a backtest must
    not trade on a 1d candle made of 22 hours. Buckets inside the data are whole, gaps being
    periods without trades.
    """
    rolled = resample_candles(candles, timeframe)
    n = len(rolled)
    if n == 0:
        return ClosedRollup(rolled, None, None)
    data_end = int(candles.time[-1]) + source_ms
    first_partial = int(candles.time[0]) > int(rolled.time[0])
    last_partial = data_end < int(rolled.time[-1]) + timeframe.ms
    if n == 1 and first_partial:
        last_partial = False  # one bucket: report it once
    keep = slice(1 if first_partial else 0, n - 1 if last_partial else n)
    return ClosedRollup(
        rolled.slice(keep.start, keep.stop),
        int(rolled.time[0]) if first_partial else None,
        int(rolled.time[-1]) if last_partial else None,
    )
