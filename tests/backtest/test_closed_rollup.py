"""A backtest only sees rolled-up candles the live core would have closed (issue 8, item 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradewinds.backtest.runner import run_backtest
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.resample import closed_rollup, resample_candles
from tradewinds.domain.timeframes import Timeframe

DATA = Path(__file__).parents[2] / "data"
HOUR = 3_600_000
DAY_2013_10_31 = 1_383_177_600_000
HOLD = 'return "long"'


def hours(first_ms: int, count: int) -> CandleArrays:
    close = 100.0 + np.arange(count, dtype=np.float64)
    return CandleArrays(
        first_ms + np.arange(count, dtype=np.int64) * HOUR, close, close + 1, close - 1, close, close
    )


def test_the_bundled_month_leaves_out_its_partial_last_day_and_four_hours() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")  # ends at 21:00 on the 31st
    days = closed_rollup(candles, Timeframe.D1, HOUR)
    assert len(days.candles) == 30
    assert days.partial_ms == (DAY_2013_10_31,)
    assert int(days.candles.time[-1]) == DAY_2013_10_31 - 24 * HOUR
    four = closed_rollup(candles, Timeframe.H4, HOUR)
    assert four.partial_last_ms == DAY_2013_10_31 + 20 * HOUR  # 20:00 and 21:00 only
    assert four.partial_first_ms is None
    whole = resample_candles(candles, Timeframe.H4)
    assert len(four.candles) == len(whole) - 1


def test_a_first_bucket_the_data_starts_after_is_left_out() -> None:
    midnight = 1_700_006_400_000 - 1_700_006_400_000 % (24 * HOUR)
    candles = hours(midnight + 2 * HOUR, 9)  # 02:00 .. 10:00, the data ends at 11:00
    rolled = closed_rollup(candles, Timeframe.H4, HOUR)
    assert rolled.partial_first_ms == midnight  # 00:00-04:00 holds 02:00 and 03:00 only
    assert rolled.partial_last_ms == midnight + 8 * HOUR  # 08:00-12:00 has not ended by 11:00
    assert rolled.candles.time.tolist() == [midnight + 4 * HOUR]
    # Ending exactly on a boundary, the last bucket is whole.
    assert closed_rollup(hours(midnight, 12), Timeframe.H4, HOUR).partial_ms == ()


def test_a_gap_inside_the_data_is_a_period_without_trades_not_a_partial_bucket() -> None:
    midnight = 1_700_006_400_000 - 1_700_006_400_000 % (24 * HOUR)
    candles = hours(midnight, 8)
    kept = np.r_[0:2, 3:8]  # 02:00 missing
    gappy = CandleArrays(
        *(getattr(candles, c)[kept] for c in ("time", "open", "high", "low", "close", "volume"))
    )
    assert closed_rollup(gappy, Timeframe.H4, HOUR).candles.time.tolist() == [midnight, midnight + 4 * HOUR]


def test_the_backtest_trades_only_closed_candles_and_says_what_it_left_out() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")
    result = run_backtest(HOLD, candles, timeframe=Timeframe.D1)
    assert len(result.candles) == 30
    assert result.partial_ms == (DAY_2013_10_31,)
    assert int(result.candles.time[-1]) < DAY_2013_10_31


def test_data_covering_no_whole_bucket_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no whole 1d candle"):
        run_backtest(HOLD, hours(1_700_006_400_000, 5), timeframe=Timeframe.D1)
