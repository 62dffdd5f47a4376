"""Indicators against TA-Lib (the oracle) on real and generated candles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategy.conftest import random_walk
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.strategy.indicators import (
    INDICATORS,
    IndicatorParamError,
    validate_params,
)

DATA = Path(__file__).parents[2] / "data"

Oracle = Callable[[CandleArrays], list[np.ndarray]]

# name -> (params, TA-Lib computation); the TA-Lib calls use the same parameters.
ORACLES: dict[str, tuple[tuple[float, ...], Oracle]] = {
    "sma": ((10,), lambda c: [talib.SMA(c.close, 10)]),
    "sma_long": ((200,), lambda c: [talib.SMA(c.close, 200)]),
    "ema": ((21,), lambda c: [talib.EMA(c.close, 21)]),
    "wma": ((15,), lambda c: [talib.WMA(c.close, 15)]),
    "dema": ((10,), lambda c: [talib.DEMA(c.close, 10)]),
    "tema": ((10,), lambda c: [talib.TEMA(c.close, 10)]),
    "rsi": ((14,), lambda c: [talib.RSI(c.close, 14)]),
    "roc": ((10,), lambda c: [talib.ROC(c.close, 10)]),
    "mom": ((10,), lambda c: [talib.MOM(c.close, 10)]),
    "highest": ((20,), lambda c: [talib.MAX(c.high, 20)]),
    "lowest": ((20,), lambda c: [talib.MIN(c.low, 20)]),
    "macd": ((12, 26, 9), lambda c: list(talib.MACD(c.close, 12, 26, 9))),
    "bollinger": ((20, 2), lambda c: list(talib.BBANDS(c.close, 20, 2, 2))),
    "stddev": ((20, 1), lambda c: [talib.STDDEV(c.close, 20, 1)]),
    "atr": ((14,), lambda c: [talib.ATR(c.high, c.low, c.close, 14)]),
    "stoch": ((14, 3, 3), lambda c: list(talib.STOCH(c.high, c.low, c.close, 14, 3, 0, 3, 0))),
    "obv": ((), lambda c: [talib.OBV(c.close, c.volume)]),
    "cci": ((20,), lambda c: [talib.CCI(c.high, c.low, c.close, 20)]),
    "willr": ((14,), lambda c: [talib.WILLR(c.high, c.low, c.close, 14)]),
}

# Outputs that oscillate around zero (differences of prices): relative error is meaningless at
# the zero crossings, so they are compared with an absolute tolerance of 1e-9 of their own scale.
AROUND_ZERO = {"macd", "roc", "mom", "cci"}


def compute(name: str, candles: CandleArrays, params: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    spec = INDICATORS[name.removesuffix("_long")]
    columns = {
        "open": candles.open,
        "high": candles.high,
        "low": candles.low,
        "close": candles.close,
        "volume": candles.volume,
    }
    if spec.inputs == ("source",):
        inputs = {"source": columns[spec.default_source or "close"]}
    else:
        inputs = {key: columns[key] for key in spec.inputs}
    return spec.compute(inputs, validate_params(spec, params))


def assert_matches(name: str, got: tuple[np.ndarray, ...], expected: list[np.ndarray]) -> None:
    spec = INDICATORS[name.removesuffix("_long")]
    params = ORACLES[name][0]
    assert len(got) == len(expected)
    for index, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert np.array_equal(np.isnan(g), np.isnan(e)), f"{name}[{index}]: NaN positions differ"
        defined = ~np.isnan(e)
        if not defined.any():
            continue
        first = int(np.flatnonzero(defined)[0])
        assert spec.candles_needed_for(validate_params(spec, params), index) == first + 1
        scale = float(np.max(np.abs(e[defined])))
        # TA-Lib's running sums leave residues of ~1e-15 of the scale where exact arithmetic
        # gives 0 (e.g. %K at the window's low), hence a tiny absolute floor everywhere.
        atol = (1e-9 if name.removesuffix("_long") in AROUND_ZERO else 1e-12) * scale
        np.testing.assert_allclose(g[defined], e[defined], rtol=1e-9, atol=atol, err_msg=name)


@pytest.fixture(scope="module")
def year_of_minutes() -> CandleArrays:
    return random_walk(525_600, seed=42)


@pytest.mark.parametrize(
    "path",
    [
        "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv",
        "bitfinex_tBTCUSD_1h_2013-10.csv",
        "coinbase_BTCUSD_1m_2018-04-04_06.csv",
    ],
)
@pytest.mark.parametrize("name", sorted(ORACLES))
def test_matches_talib_on_real_candles(name: str, path: str) -> None:
    candles = read_candle_csv(DATA / path)
    params, oracle = ORACLES[name]
    assert_matches(name, compute(name, candles, params), oracle(candles))


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_matches_talib_on_a_year_of_minutes(name: str, year_of_minutes: CandleArrays) -> None:
    params, oracle = ORACLES[name]
    assert_matches(name, compute(name, year_of_minutes, params), oracle(year_of_minutes))


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(ORACLES)),
    length=st.integers(min_value=0, max_value=80),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_matches_talib_on_short_series(name: str, length: int, seed: int) -> None:
    candles = random_walk(length, seed=seed)
    params, oracle = ORACLES[name]
    if length == 0:
        assert all(len(out) == 0 for out in compute(name, candles, params))
        return
    assert_matches(name, compute(name, candles, params), oracle(candles))


@settings(max_examples=40, deadline=None)
@given(lead=st.integers(min_value=0, max_value=40), seed=st.integers(min_value=0, max_value=1000))
def test_source_with_a_leading_nan_run(lead: int, seed: int) -> None:
    """An indicator of an indicator treats its source as starting at the first defined value."""
    values = random_walk(120, seed=seed).close
    source = values.copy()
    source[:lead] = np.nan
    spec = INDICATORS["ema"]
    (got,) = spec.compute({"source": source}, (5.0,))
    (expected,) = spec.compute({"source": values[lead:]}, (5.0,))
    assert np.all(np.isnan(got[:lead]))
    np.testing.assert_allclose(got[lead:], expected, rtol=1e-12)


def test_vwap_against_a_reference_loop() -> None:
    candles = random_walk(300, seed=5)
    (got,) = INDICATORS["vwap"].compute(
        {
            "high": candles.high,
            "low": candles.low,
            "close": candles.close,
            "volume": candles.volume,
        },
        (20.0,),
    )
    typical = (candles.high + candles.low + candles.close) / 3
    for i in range(len(candles)):
        if i < 19:
            assert np.isnan(got[i])
            continue
        window = slice(i - 19, i + 1)
        expected = np.sum(typical[window] * candles.volume[window]) / np.sum(candles.volume[window])
        assert got[i] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("sma", [], "ta.sma: period is required"),
        ("sma", [0], "ta.sma: period must be an integer >= 1, got 0"),
        ("sma", [2.5], "must be an integer"),
        ("sma", [1, 2], "ta.sma expects at most 1 numbers (period), got 2"),
        ("bollinger", [20, -1], "deviations must be a number >= 0"),
        ("obv", [3], "expects at most 0 numbers"),
    ],
)
def test_parameter_errors_are_clear(name: str, args: list[float], message: str) -> None:
    with pytest.raises(IndicatorParamError) as info:
        validate_params(INDICATORS[name], args)
    assert message in str(info.value)


def test_required_indicators_exist() -> None:
    required = {
        "sma",
        "ema",
        "wma",
        "rsi",
        "macd",
        "bollinger",
        "atr",
        "stoch",
        "obv",
        "vwap",
        "stddev",
        "roc",
        "highest",
        "lowest",
    }
    assert required <= set(INDICATORS)
