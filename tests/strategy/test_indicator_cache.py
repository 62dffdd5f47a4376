"""Indicator series shared between runs over the same candles (a sweep's), never across others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.strategy import run_over_history
from tradewinds.strategy.indicator_cache import IndicatorCache
from tradewinds.strategy.runtime import Dataset

DATA = Path(__file__).parents[2] / "data"
CROSSOVER = """
local fast = ta.sma(param("fast", 10))
local slow = ta.ema(param("slow", 30), ta.sma(3))
if fast() > slow() then return "long" else return "short" end
"""


@pytest.fixture(scope="module")
def hours() -> CandleArrays:
    return read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv")


def test_datasets_sharing_a_cache_compute_each_series_once(hours: CandleArrays) -> None:
    cache = IndicatorCache()
    first, second = Dataset(hours, cache=cache), Dataset(hours, cache=cache)
    a = first.create_indicator("sma", 5, 10)  # source 5: close
    b = second.create_indicator("sma", 5, 10)
    assert cache.hits == 1 and len(cache) == 1
    assert a[1] == b[1]  # the same array: same address
    assert second.create_indicator("sma", 5, 11)[1] != a[1]
    assert second.create_indicator("sma", 4, 10)[1] != a[1]  # another source (low)
    assert not first.arrays[a[0]].flags.writeable  # shared, so nobody may change it


def test_the_cache_drops_the_least_recently_used_beyond_its_size() -> None:
    cache = IndicatorCache(max_bytes=3 * 800)
    for key in "abc":
        cache.outputs(key, lambda: (np.zeros(100),))
    cache.outputs("a", lambda: (np.ones(100),))  # a hit: "a" is now the most recent
    cache.outputs("d", lambda: (np.zeros(100),))
    assert len(cache) == 3 and cache.bytes == 2400
    calls: list[str] = []
    cache.outputs("b", lambda: calls.append("b") or (np.zeros(100),))  # dropped: recomputed
    cache.outputs("a", lambda: calls.append("a") or (np.zeros(100),))
    assert calls == ["b"]


def test_reusing_runs_decide_as_fresh_ones_and_never_reuse_other_candles(hours: CandleArrays) -> None:
    fresh = [run_over_history(CROSSOVER, hours, {"fast": f}).decisions for f in (5, 8)]
    reused = [
        run_over_history(CROSSOVER, hours, {"fast": f}, reuse_indicators=True).decisions for f in (5, 8)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(fresh, reused, strict=True))
    # Other candles of the same length, also reusing: their own indicators, not the cached ones.
    shifted = CandleArrays(
        hours.time, hours.open, hours.high, hours.low, hours.close[::-1].copy(), hours.volume
    )
    other = run_over_history(CROSSOVER, shifted, {"fast": 5}, reuse_indicators=True).decisions
    assert np.array_equal(other, run_over_history(CROSSOVER, shifted, {"fast": 5}).decisions)
    assert not np.array_equal(other, fresh[0])
