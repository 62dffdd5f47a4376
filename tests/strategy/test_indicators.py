"""The indicator library against TA-Lib (the oracle) on real and generated candles.

Tolerance: rtol 1e-9 everywhere, plus an absolute 1e-12 of each output's *operand scale*: the
size of the numbers the indicator subtracts or divides (the price level for averages, MACD,
momentum and deviations; 100 for 0-100 oscillators and percentages; the running volume for
OBV; typical price / (0.015 * mean deviation) for CCI). Two correct summation orders of such
operands differ by a few ulps of them (an ulp is 2.2e-16 of the value), so 1e-12 leaves a
margin of ~4500 ulps and still fails on any real error; it only matters next to zero, e.g. a
MACD crossing or %K at the period's low, where a relative tolerance means nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.strategy.indicators import (
    INDICATORS,
    IndicatorParamError,
    IndicatorSpec,
    validate_params,
)
from tradewinds.strategy.indicators.windows import window_square_deviations, window_sums

DATA = Path(__file__).parents[2] / "data"
REAL_FILES = sorted(path.name for path in DATA.glob("*.csv"))
COLUMNS = ("open", "high", "low", "close", "volume")
RTOL = 1e-9
ATOL_OF_SCALE = 1e-12

Arrays = Mapping[str, np.ndarray]
Params = tuple[float, ...]


# ---------------------------------------------------------------------------------------------
# Candles


def minute_candles(n: int, seed: int, *, level: float = 30_000.0, tick: float | None = 0.01) -> CandleArrays:
    """A random walk of 1-minute candles, log price reflected into [level/3, 2*level].

    With `tick`, prices are rounded to it as on an exchange: repeated prices, flat windows and
    zero ranges then occur, which exercise the 0/0 and rounding-residue cases.
    """
    rng = np.random.default_rng(seed)
    low_log, high_log = np.log(level / 3), np.log(2 * level)
    span = high_log - low_log
    walk = np.mod(np.log(level) - low_log + np.cumsum(rng.normal(0.0, 0.0008, n)), 2 * span)
    close = np.exp(low_log + np.where(walk > span, 2 * span - walk, walk))
    wick_up = np.abs(rng.normal(0.0, 0.0005, n)) * close
    wick_down = np.abs(rng.normal(0.0, 0.0005, n)) * close
    if tick is not None:
        close = np.maximum(np.round(close / tick), 1.0) * tick
        wick_up = np.round(wick_up / tick) * tick
        wick_down = np.minimum(np.round(wick_down / tick) * tick, close - tick)
    open_ = np.r_[close[:1], close[:-1]]
    volume = rng.exponential(5.0, n)
    volume[rng.random(n) < 0.05] = 0.0  # quiet minutes
    return CandleArrays(
        time=1_600_000_000_000 + np.arange(n, dtype=np.int64) * 60_000,
        open=open_,
        high=np.maximum(open_, close) + wick_up,
        low=np.minimum(open_, close) - wick_down,
        close=close,
        volume=volume,
    )


def jittered_candles(n: int, seed: int, *, level: float, ulps: int) -> CandleArrays:
    """Prices that differ only by up to `ulps` units in the last place of `level`.

    A few ulps is rounding residue, which TA-Lib's relative dead zone (1e-14 of the prices,
    ~45 ulps) treats as no move at all; thousands of ulps is a real, if tiny, move.
    """
    rng = np.random.default_rng(seed)
    ulp = np.spacing(level)
    close = level + ulp * rng.integers(0, ulps + 1, n)
    high = close + ulp * rng.integers(0, ulps + 1, n)
    low = close - ulp * rng.integers(0, ulps + 1, n)
    return CandleArrays(
        time=np.arange(n, dtype=np.int64) * 60_000,
        open=close,
        high=high,
        low=low,
        close=close,
        volume=rng.exponential(5.0, n),
    )


@pytest.fixture(scope="module")
def year_of_minutes() -> CandleArrays:
    return minute_candles(525_600, seed=2024)


def inputs_for(spec: IndicatorSpec, candles: CandleArrays) -> Arrays:
    if spec.inputs == ("source",):
        return {"source": getattr(candles, spec.default_source or "close")}
    return {column: getattr(candles, column) for column in spec.inputs}


# ---------------------------------------------------------------------------------------------
# Oracles: the same computation with TA-Lib (or, for vwap, straight from its definition)


def reference_vwap(x: Arrays, period: int) -> np.ndarray:
    typical = (x["high"] + x["low"] + x["close"]) / 3.0
    out = np.full(len(typical), np.nan)
    if len(typical) >= period:
        value = sliding_window_view(typical * x["volume"], period).sum(axis=1)
        traded = sliding_window_view(x["volume"], period).sum(axis=1)
        out[period - 1 :] = np.where(
            traded > 0, value / np.where(traded > 0, traded, 1.0), typical[period - 1 :]
        )
    return out


ORACLES: dict[str, Callable[[Arrays, Params], list[np.ndarray]]] = {
    "sma": lambda x, p: [talib.SMA(x["source"], int(p[0]))],
    "ema": lambda x, p: [talib.EMA(x["source"], int(p[0]))],
    "wma": lambda x, p: [talib.WMA(x["source"], int(p[0]))],
    "dema": lambda x, p: [talib.DEMA(x["source"], int(p[0]))],
    "tema": lambda x, p: [talib.TEMA(x["source"], int(p[0]))],
    "macd": lambda x, p: list(talib.MACD(x["source"], int(p[0]), int(p[1]), int(p[2]))),
    "rsi": lambda x, p: [talib.RSI(x["source"], int(p[0]))],
    "roc": lambda x, p: [talib.ROC(x["source"], int(p[0]))],
    "mom": lambda x, p: [talib.MOM(x["source"], int(p[0]))],
    "stoch": lambda x, p: list(
        talib.STOCH(x["high"], x["low"], x["close"], int(p[0]), int(p[1]), 0, int(p[2]), 0)
    ),
    "willr": lambda x, p: [talib.WILLR(x["high"], x["low"], x["close"], int(p[0]))],
    "cci": lambda x, p: [talib.CCI(x["high"], x["low"], x["close"], int(p[0]))],
    "highest": lambda x, p: [talib.MAX(x["source"], int(p[0]))],
    "lowest": lambda x, p: [talib.MIN(x["source"], int(p[0]))],
    "stddev": lambda x, p: [talib.STDDEV(x["source"], int(p[0]), p[1])],
    "bollinger": lambda x, p: list(talib.BBANDS(x["source"], int(p[0]), p[1], p[1], 0)),
    "atr": lambda x, p: [talib.ATR(x["high"], x["low"], x["close"], int(p[0]))],
    "obv": lambda x, p: [talib.OBV(x["close"], x["volume"])],
    "mfi": lambda x, p: [talib.MFI(x["high"], x["low"], x["close"], x["volume"], int(p[0]))],
    "vwap": lambda x, p: [reference_vwap(x, int(p[0]))],
}

BOUNDED = {"rsi", "stoch", "willr", "mfi", "roc"}  # 0-100 scales and percentages


def operand_scale(name: str, x: Arrays, params: Params) -> float | np.ndarray:
    """The size of the numbers an indicator subtracts (see the module docstring)."""
    if name in BOUNDED:
        return 100.0
    if name == "obv":
        return float(np.sum(x["volume"]))
    if name == "cci":
        typical = (x["high"] + x["low"] + x["close"]) / 3.0
        period = int(params[0])
        scale = np.zeros(len(typical))
        if len(typical) >= period:
            windows = sliding_window_view(typical, period)
            deviation = np.abs(windows - windows.mean(axis=1, keepdims=True)).mean(axis=1)
            # a window without deviation reads exactly 0 (scale 0: no absolute tolerance)
            np.divide(typical[period - 1 :], 0.015 * deviation, out=scale[period - 1 :], where=deviation > 0)
        return scale
    prices = x["source"] if "source" in x else x["high"]
    return float(np.nanmax(np.abs(prices), initial=0.0))


# Parameter sets checked on real data and on a year of minutes: the defaults and a long one.
CASES: list[tuple[str, Params]] = [
    ("sma", (10,)),
    ("sma", (200,)),
    ("ema", (21,)),
    ("ema", (200,)),
    ("wma", (15,)),
    ("wma", (100,)),
    ("dema", (10,)),
    ("tema", (10,)),
    ("macd", (12, 26, 9)),
    ("macd", (26, 12, 9)),  # TA-Lib swaps fast and slow
    ("rsi", (14,)),
    ("rsi", (2,)),
    ("roc", (10,)),
    ("mom", (10,)),
    ("stoch", (14, 3, 3)),
    ("stoch", (5, 1, 1)),
    ("willr", (14,)),
    ("cci", (20,)),
    ("highest", (20,)),
    ("highest", (200,)),
    ("lowest", (20,)),
    ("lowest", (3,)),
    ("stddev", (20, 1)),
    ("stddev", (2, 1.5)),
    ("stddev", (100, 1)),
    ("bollinger", (20, 2)),
    ("bollinger", (50, 2.5)),
    ("atr", (14,)),
    ("atr", (1,)),
    ("obv", ()),
    ("mfi", (14,)),
    ("vwap", (20,)),
    ("vwap", (60,)),
]
CASE_IDS = [f"{name}{params}" for name, params in CASES]


# ---------------------------------------------------------------------------------------------
# Checking


def assert_matches(name: str, params: Params, x: Arrays, *, lead: int = 0) -> None:
    """compute() equals the oracle: NaN at the same places, values within tolerance, and the
    first value where candles_needed_for says (after `lead` undefined source values)."""
    spec = INDICATORS[name]
    checked = validate_params(spec, params)
    before = {key: value.copy() for key, value in x.items()}
    got = spec.compute(x, checked)
    expected = ORACLES[name](x, checked)
    for key, value in x.items():
        assert np.array_equal(value, before[key], equal_nan=True), f"{name} modified its input {key}"
    assert len(got) == len(expected) == len(spec.outputs)
    scale = operand_scale(name, x, checked)
    length = len(next(iter(x.values())))
    for index, (g, e) in enumerate(zip(got, expected, strict=True)):
        label = f"{spec.describe(checked)} {spec.outputs[index]}"
        assert g.dtype == np.float64 and g.shape == (length,), label
        differ = np.flatnonzero(np.isnan(g) != np.isnan(e))
        assert len(differ) == 0, f"{label}: NaN differs from TA-Lib first at index {differ[0]}"
        defined = np.flatnonzero(~np.isnan(e))
        needed = spec.candles_needed_for(checked, index)
        if len(defined):
            assert defined[0] == lead + needed - 1, f"{label}: first value at {defined[0]}"
        else:
            assert lead + needed > length, f"{label}: no value although {needed} candles needed"
        atol = ATOL_OF_SCALE * (scale[defined] if isinstance(scale, np.ndarray) else scale)
        excess = np.abs(g[defined] - e[defined]) - (atol + RTOL * np.abs(e[defined]))
        if len(excess) and excess.max() > 0:
            worst = defined[int(np.argmax(excess))]
            pytest.fail(f"{label} at index {worst}: got {g[worst]!r}, TA-Lib {e[worst]!r}")


# ---------------------------------------------------------------------------------------------
# Against TA-Lib


@pytest.mark.parametrize("path", REAL_FILES)
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_matches_talib_on_real_candles(name: str, params: Params, path: str) -> None:
    candles = read_candle_csv(DATA / path)
    assert_matches(name, params, inputs_for(INDICATORS[name], candles))


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_matches_talib_on_a_year_of_minutes(name: str, params: Params, year_of_minutes: CandleArrays) -> None:
    assert_matches(name, params, inputs_for(INDICATORS[name], year_of_minutes))


def test_the_year_of_minutes_stays_in_a_realistic_range(year_of_minutes: CandleArrays) -> None:
    assert year_of_minutes.low.min() >= 10_000 and year_of_minutes.high.max() <= 60_000
    assert year_of_minutes.high.max() - year_of_minutes.low.min() > 20_000


@st.composite
def params_for(draw: st.DrawFn, spec: IndicatorSpec, longest: int = 30) -> Params:
    values: list[float] = []
    for param in spec.params:
        if param.integer:
            values.append(draw(st.integers(int(param.minimum), longest)))
        else:
            values.append(draw(st.floats(param.minimum, 4.0, allow_nan=False)))
    return tuple(values)


@st.composite
def short_candles(draw: st.DrawFn) -> CandleArrays:
    level = draw(st.sampled_from([3e-6, 1.0, 250.0, 30_000.0]))
    tick_share = draw(st.sampled_from([None, 1e-6, 1e-4, 1e-3]))  # 1e-3: mostly flat candles
    return minute_candles(
        draw(st.integers(0, 90)),
        draw(st.integers(0, 2**32 - 1)),
        level=level,
        tick=None if tick_share is None else level * tick_share,
    )


SHORT_CANDLES = st.one_of(
    short_candles(),
    st.builds(
        jittered_candles,
        st.integers(0, 90),
        st.integers(0, 2**32 - 1),
        level=st.sampled_from([3e-6, 0.1, 30_000.0]),
        ulps=st.sampled_from([3, 100_000]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(INDICATORS)), candles=SHORT_CANDLES, data=st.data())
def test_matches_talib_on_short_series(name: str, candles: CandleArrays, data: st.DataObject) -> None:
    """Any parameters, series shorter or longer than the warm-up, smooth, rounded to a tick
    (flat windows, zero ranges) or moving by a few ulps, at price levels from micro-cap to BTC."""
    spec = INDICATORS[name]
    assert_matches(name, data.draw(params_for(spec)), inputs_for(spec, candles))


SOURCE_INDICATORS = sorted(name for name, spec in INDICATORS.items() if spec.inputs == ("source",))


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(SOURCE_INDICATORS),
    candles=SHORT_CANDLES,
    lead=st.integers(0, 40),
    data=st.data(),
)
def test_source_with_a_leading_nan_run(
    name: str, candles: CandleArrays, lead: int, data: st.DataObject
) -> None:
    """An indicator of an indicator: the source starts at its first defined value."""
    spec = INDICATORS[name]
    params = validate_params(spec, data.draw(params_for(spec)))
    source = candles.close.copy()
    source[: min(lead, len(source))] = np.nan
    assert_matches(name, params, {"source": source}, lead=min(lead, len(source)))
    # and it is the indicator of the defined part, shifted
    shifted = spec.compute({"source": source[lead:]}, params)
    for got, alone in zip(spec.compute({"source": source}, params), shifted, strict=True):
        np.testing.assert_array_equal(got[lead:], alone)


def test_an_indicator_of_an_indicator_matches_talib_chained(year_of_minutes: CandleArrays) -> None:
    close = year_of_minutes.close[:50_000]
    (rsi,) = INDICATORS["rsi"].compute({"source": close}, (14.0,))
    (smoothed,) = INDICATORS["sma"].compute({"source": rsi}, (10.0,))
    expected = talib.SMA(talib.RSI(close, 14), 10)
    assert np.array_equal(np.isnan(smoothed), np.isnan(expected))
    np.testing.assert_allclose(smoothed, expected, rtol=RTOL, atol=ATOL_OF_SCALE * 100)


# ---------------------------------------------------------------------------------------------
# Exactness on long series, independent of TA-Lib


def exact_mean_and_square_deviations(window: np.ndarray) -> tuple[Fraction, Fraction]:
    values = [Fraction(float(v)) for v in window]
    mean = sum(values, Fraction(0)) / len(values)
    return mean, sum(((v - mean) ** 2 for v in values), Fraction(0))


@pytest.mark.parametrize("period", [2, 20, 33, 200, 600])
def test_window_statistics_are_exact_to_rounding_over_a_year(
    year_of_minutes: CandleArrays, period: int
) -> None:
    """Rounding does not grow along the series: the last windows are as exact as the first."""
    close = year_of_minutes.close
    sums = window_sums(close, period)
    deviations = window_square_deviations(close, period)
    rng = np.random.default_rng(period)
    ends = np.r_[period - 1, len(close) - 1, rng.integers(period - 1, len(close), 40)]
    for end in ends:
        mean, square_deviations = exact_mean_and_square_deviations(close[end - period + 1 : end + 1])
        assert sums[end] == pytest.approx(float(mean * period), rel=1e-14)
        assert deviations[end] == pytest.approx(float(square_deviations), rel=1e-11, abs=1e-20)


def test_standard_deviation_keeps_a_tiny_spread_on_a_large_price() -> None:
    """The spread, not the price level, sets the precision (no E[x^2] - E[x]^2)."""
    ulp = np.spacing(60_000.0)
    rng = np.random.default_rng(3)
    close = 60_000.0 + ulp * rng.integers(0, 4, 5_000)
    (got,) = INDICATORS["stddev"].compute({"source": close}, (7.0, 1.0))
    for end in range(6, len(close), 97):
        _, square_deviations = exact_mean_and_square_deviations(close[end - 6 : end + 1])
        assert got[end] == pytest.approx(float(square_deviations / 7) ** 0.5, rel=1e-12)


@pytest.mark.parametrize("level", [0.1, 30_000.0, 3e-6])
def test_windows_flat_but_for_rounding_read_zero_like_talib(level: float) -> None:
    """Prices a few ulps apart have no range, no deviation and no money flow: 0, not noise."""
    candles = jittered_candles(300, seed=9, level=level, ulps=3)
    hlcv = {"high": candles.high, "low": candles.low, "close": candles.close, "volume": candles.volume}
    hlc = {key: hlcv[key] for key in ("high", "low", "close")}
    checks = [
        ("cci", hlc, (5.0,), talib.CCI(candles.high, candles.low, candles.close, 5)),
        ("willr", hlc, (5.0,), talib.WILLR(candles.high, candles.low, candles.close, 5)),
        (
            "stoch",
            hlc,
            (5.0, 3.0, 3.0),
            talib.STOCH(candles.high, candles.low, candles.close, 5, 3, 0, 3, 0)[0],
        ),
        ("mfi", hlcv, (5.0,), talib.MFI(candles.high, candles.low, candles.close, candles.volume, 5)),
        ("stddev", {"source": np.full(300, level)}, (5.0, 1.0), talib.STDDEV(np.full(300, level), 5, 1)),
        ("rsi", {"source": np.full(300, level)}, (5.0,), talib.RSI(np.full(300, level), 5)),
    ]
    for name, inputs, params, expected in checks:
        got = INDICATORS[name].compute(inputs, params)[0]
        defined = ~np.isnan(expected)
        assert np.array_equal(np.isnan(got), ~defined), name
        assert np.all(np.abs(got[defined]) == 0.0), name
        assert np.all(np.abs(expected[defined]) == 0.0), name


def test_vwap_against_a_reference_loop() -> None:
    candles = minute_candles(400, seed=5)
    volume = candles.volume.copy()
    volume[100:130] = 0.0  # a quiet half hour: windows inside it take the typical price
    x = {"high": candles.high, "low": candles.low, "close": candles.close, "volume": volume}
    (got,) = INDICATORS["vwap"].compute(x, (20.0,))
    typical = (candles.high + candles.low + candles.close) / 3
    for i in range(len(typical)):
        if i < 19:
            assert np.isnan(got[i])
            continue
        window = slice(i - 19, i + 1)
        traded = sum(volume[window])
        expected = sum(typical[window] * volume[window]) / traded if traded > 0 else typical[i]
        assert got[i] == pytest.approx(expected, rel=1e-12)
    assert got[125] == typical[125]


# ---------------------------------------------------------------------------------------------
# The catalogue and its parameters


def test_every_indicator_the_engine_promises_exists() -> None:
    required = {"sma", "ema", "wma", "rsi", "macd", "bollinger", "atr", "stoch", "obv", "vwap"}
    required |= {"stddev", "roc", "highest", "lowest", "mom", "cci", "willr", "mfi", "dema", "tema"}
    assert required <= set(INDICATORS)
    assert set(ORACLES) == set(INDICATORS)


@pytest.mark.parametrize(
    ("name", "source", "outputs"),
    [
        ("sma", "close", ("value",)),
        ("highest", "high", ("value",)),
        ("lowest", "low", ("value",)),
        ("macd", "close", ("macd", "signal", "histogram")),
        ("bollinger", "close", ("upper", "middle", "lower")),
        ("stoch", None, ("k", "d")),
        ("vwap", None, ("value",)),
    ],
)
def test_sources_and_outputs(name: str, source: str | None, outputs: tuple[str, ...]) -> None:
    spec = INDICATORS[name]
    assert spec.default_source == source
    assert spec.outputs == outputs
    assert set(spec.inputs) <= {"source", *COLUMNS}


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("sma", [], "ta.sma: period is required"),
        ("sma", [0], "ta.sma: period must be an integer >= 1, got 0"),
        ("sma", [2.5], "ta.sma: period must be an integer >= 1, got 2.5"),
        ("sma", [float("nan")], "ta.sma: period must be an integer >= 1, got nan"),
        ("sma", [float("inf")], "ta.sma: period must be an integer >= 1, got inf"),
        ("rsi", [1], "ta.rsi: period must be an integer >= 2, got 1"),
        ("sma", [1, 2, 3], "ta.sma expects at most 1 number (period), got 3"),
        ("macd", [1, 2, 3, 4], "ta.macd expects at most 3 numbers (fast, slow, signal), got 4"),
        ("bollinger", [20, -1], "ta.bollinger: deviations must be a number >= 0, got -1"),
        ("obv", [3], "ta.obv expects no numbers, got 1"),
    ],
)
def test_parameter_errors_name_the_problem(name: str, args: list[float], message: str) -> None:
    with pytest.raises(IndicatorParamError) as info:
        validate_params(INDICATORS[name], args)
    assert str(info.value) == message


def test_defaults_fill_missing_and_none_parameters() -> None:
    assert validate_params(INDICATORS["macd"], []) == (12, 26, 9)
    assert validate_params(INDICATORS["macd"], [None, 30]) == (12, 30, 9)
    assert validate_params(INDICATORS["bollinger"], [10, 2.5]) == (10, 2.5)
    assert validate_params(INDICATORS["obv"], []) == ()


@pytest.mark.parametrize(
    ("name", "params", "text", "needed"),
    [
        ("sma", (10,), "ta.sma(10)", 10),
        ("macd", (12, 26, 9), "ta.macd(12, 26, 9)", 34),
        ("bollinger", (20, 2.5), "ta.bollinger(20, 2.5)", 20),
        ("obv", (), "ta.obv()", 1),
        ("rsi", (14,), "ta.rsi(14)", 15),
        ("stoch", (14, 3, 3), "ta.stoch(14, 3, 3)", 18),
        ("tema", (10,), "ta.tema(10)", 28),
    ],
)
def test_description_and_warm_up(name: str, params: Params, text: str, needed: int) -> None:
    spec = INDICATORS[name]
    assert spec.describe(params) == text
    assert spec.candles_needed(params) == needed
    assert all(spec.candles_needed_for(params, k) == needed for k in range(len(spec.outputs)))
    with pytest.raises(IndexError):
        spec.candles_needed_for(params, len(spec.outputs))


def test_inputs_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        INDICATORS["atr"].compute({"high": np.ones(5), "low": np.ones(5), "close": np.ones(4)}, (3.0,))


def test_a_period_far_beyond_the_series_is_cheap_and_undefined() -> None:
    for name in ("sma", "wma", "stddev", "highest", "ema", "rsi"):
        spec = INDICATORS[name]
        params = validate_params(spec, [1e12])
        (out, *_) = spec.compute({"source": np.arange(1.0, 50.0)}, params)
        assert np.isnan(out).all()
        assert spec.candles_needed(params) >= 1e12
