"""Ties break as TA-Lib's do: values equal in exact arithmetic are equal in floating point.

The averages are computed in TA-Lib's order of operations (`talib_order.lua`), so they are
TA-Lib's values bit for bit, and comparisons between them (`sma() > ema()` at the EMA's seed,
`crossover` on equal values) decide as they would on TA-Lib's numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.backtest.portfolio import simulate
from tradewinds.backtest.runner import run_backtest
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.strategy import run_over_history
from tradewinds.strategy.indicators import INDICATORS

DATA = Path(__file__).parents[2] / "data"
HOURLY = sorted(path.name for path in DATA.glob("*1h*.csv"))
EVERY_FILE = sorted(path.name for path in DATA.glob("*.csv"))

# The example of the paper (benchmarks/backtest.py): short while the SMA is above the EMA.
PAPER_EXAMPLE = """
local sma = ta.sma(10)
local ema = ta.ema(10)
if sma() > ema() then
  return "short"
else
  return "long"
end
"""


def ours(name: str, candles: CandleArrays, *params: float) -> tuple[np.ndarray, ...]:
    spec = INDICATORS[name]
    if spec.inputs == ("source",):
        inputs = {"source": candles.close}
    else:
        inputs = {column: getattr(candles, column) for column in spec.inputs}
    return spec.compute(inputs, tuple(float(p) for p in params))


def assert_bit_equal(mine: np.ndarray, theirs: np.ndarray) -> None:
    """Same NaN positions and the same doubles everywhere else (no tolerance)."""
    assert np.array_equal(np.isnan(mine), np.isnan(theirs))
    defined = ~np.isnan(theirs)
    differ = np.flatnonzero(mine[defined] != theirs[defined])
    assert len(differ) == 0, f"{len(differ)} values differ, first at defined index {differ[:1]}"


def talib_outputs(name: str, candles: CandleArrays, *params: int) -> tuple[np.ndarray, ...]:
    close = candles.close
    if name == "sma":
        return (talib.SMA(close, *params),)
    if name == "ema":
        return (talib.EMA(close, *params),)
    if name == "dema":
        return (talib.DEMA(close, *params),)
    if name == "tema":
        return (talib.TEMA(close, *params),)
    if name == "macd":
        return tuple(talib.MACD(close, *params))
    raise AssertionError(name)


@pytest.mark.parametrize("path", EVERY_FILE)
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sma", (2,)),
        ("sma", (10,)),
        ("sma", (200,)),
        ("ema", (2,)),
        ("ema", (10,)),
        ("ema", (50,)),
        ("dema", (10,)),
        ("tema", (10,)),
        ("macd", (12, 26, 9)),
        ("macd", (5, 35, 5)),
    ],
)
def test_averages_are_talibs_bit_for_bit(name: str, params: tuple[int, ...], path: str) -> None:
    candles = read_candle_csv(DATA / path)
    for mine, theirs in zip(ours(name, candles, *params), talib_outputs(name, candles, *params), strict=True):
        assert_bit_equal(mine, theirs)


@pytest.mark.parametrize("path", EVERY_FILE)
def test_bollinger_middle_band_is_the_sma(path: str) -> None:
    candles = read_candle_csv(DATA / path)
    _, middle, _ = ours("bollinger", candles, 20, 2)
    assert_bit_equal(middle, talib.SMA(candles.close, 20))
    assert_bit_equal(middle, ours("sma", candles, 20)[0])


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(st.floats(0.01, 1e6, allow_nan=False), min_size=1, max_size=60),
    period=st.integers(1, 60),
)
def test_the_ema_seed_is_the_sma_bit_for_bit(prices: list[float], period: int) -> None:
    close = np.array(prices)
    candles = CandleArrays(np.arange(len(close), dtype=np.int64), close, close, close, close, close)
    sma, ema = ours("sma", candles, period)[0], ours("ema", candles, period)[0]
    if len(close) >= period:
        assert sma[period - 1] == ema[period - 1]
        assert not sma[period - 1] > ema[period - 1]
    assert_bit_equal(ema, talib.EMA(close, period))


def test_at_the_first_candle_with_both_the_sma_is_not_above_the_ema() -> None:
    """Prices whose mean rounds differently when summed pairwise than in order."""
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv")
    source = """
    local sma, ema = ta.sma(10), ta.ema(10)
    log(sma() > ema(), sma() == ema())
    """
    run = run_over_history(source, candles)
    assert run.warmup_candles == 9
    assert run.logs[0].text == "false true"


def test_crossover_on_equal_values_is_not_a_cross() -> None:
    # Flat for 10 candles, then up: the SMA and the EMA are equal until the rise, and from equal
    # values neither crosses the other.
    close = np.r_[np.full(12, 100.0), np.arange(101.0, 110.0)]
    candles = CandleArrays(
        1_600_000_000_000 + np.arange(len(close), dtype=np.int64) * 60_000, close, close, close, close, close
    )
    source = """
    local sma, ema = ta.sma(3), ta.ema(3)
    log(sma() == ema(), crossover(sma, ema), crossunder(sma, ema), crossover(ema, sma))
    """
    run = run_over_history(source, candles)
    texts = [line.text for line in run.logs]
    assert texts[:9] == ["true false false false"] * 9  # candles 2..10: equal, no cross
    # At the first rise the EMA (weight 1/2 on the new close) moves above the SMA (1/3): from
    # equal values that is a cross, the EMA over the SMA.
    assert texts[10] == "false false true true"


@pytest.mark.parametrize("path", HOURLY)
def test_the_papers_example_trades_as_talibs_values_say(path: str) -> None:
    candles = read_candle_csv(DATA / path)
    sma, ema = talib.SMA(candles.close, 10), talib.EMA(candles.close, 10)
    decisions = np.where(sma > ema, -1, 1).astype(np.int8)
    decisions[np.isnan(sma) | np.isnan(ema)] = 0  # warm-up: no decision
    expected = simulate(candles, decisions, 10_000.0, 0.001)

    result = run_backtest(PAPER_EXAMPLE, candles)

    assert np.array_equal(result.run.decisions, decisions)
    assert result.metrics.trades == len(expected.table)
    assert result.metrics.final_equity == float(expected.equity[-1])


def test_the_papers_example_buys_at_the_seed_where_talibs_sma_equals_its_ema() -> None:
    # Ten hourly closes whose mean, summed pairwise, rounds above the in-order sum: with the
    # averages computed differently, sma() > ema() held at candle 9 and the example stayed in cash.
    closes = [29986.2, 30008.5, 30006.0, 30008.4, 29999.7, 30034.4, 30033.7, 29967.7, 29946.9, 29887.9]
    close = np.array([*closes, 29900.0, 29950.0, 30010.0, 29990.0, 29980.0])
    candles = CandleArrays(
        1_600_000_000_000 + np.arange(len(close), dtype=np.int64) * 3_600_000,
        close,
        close,
        close,
        close,
        close,
    )
    sma, ema = talib.SMA(close, 10), talib.EMA(close, 10)
    assert sma[9] == ema[9]
    decisions = np.where(sma > ema, -1, 1).astype(np.int8)
    decisions[:9] = 0

    result = run_backtest(PAPER_EXAMPLE, candles)

    assert result.run.decisions[9] == 1  # bought at the first candle with both averages
    assert np.array_equal(result.run.decisions, decisions)
    assert result.metrics.trades == len(simulate(candles, decisions, 10_000.0, 0.001).table)
