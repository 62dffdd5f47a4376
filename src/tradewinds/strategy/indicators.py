"""Technical indicators over whole candle series (numpy), the values behind `ta.*` in strategies.

Each indicator is computed once per dataset and read by index from Lua. Outputs have the input's
length with NaN where the indicator is not defined yet; conventions (seeding, smoothing, where
the first value appears) follow TA-Lib, which the tests use as the oracle.

An input used as a `source` may itself be an indicator output, with a leading run of NaN: the
series is then taken to start at its first defined value. NaN never appears later in an input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.signal import lfilter

FloatArray = npt.NDArray[np.float64]
Params = tuple[float, ...]
Compute = Callable[[Mapping[str, FloatArray], Params], tuple[FloatArray, ...]]


class IndicatorParamError(ValueError):
    """A strategy called an indicator with parameters it does not accept."""


@dataclass(frozen=True)
class Param:
    name: str
    default: float | None  # None: the strategy must give it
    minimum: float
    integer: bool = True


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    params: tuple[Param, ...]
    inputs: tuple[str, ...]  # ("source",) or fixed price columns
    default_source: str | None
    outputs: tuple[str, ...]
    _compute: Compute
    # candles needed before output k has a value, given the parameters
    _needed: Callable[[Params, int], int]

    def compute(self, inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
        return self._compute(inputs, params)

    def candles_needed_for(self, params: Params, output_index: int = 0) -> int:
        return self._needed(params, output_index)

    def candles_needed(self, params: Params) -> int:
        return self.candles_needed_for(params, 0)

    def describe(self, params: Params) -> str:
        return f"ta.{self.name}({', '.join(f'{p:g}' for p in params)})"


def validate_params(spec: IndicatorSpec, args: Sequence[float | None]) -> Params:
    """Fill defaults and check ranges; raise IndicatorParamError naming the problem."""
    if len(args) > len(spec.params):
        names = ", ".join(p.name for p in spec.params) or "no parameters"
        raise IndicatorParamError(
            f"ta.{spec.name} expects at most {len(spec.params)} numbers ({names}), got {len(args)}"
        )
    values: list[float] = []
    for index, param in enumerate(spec.params):
        given = args[index] if index < len(args) else None
        value = param.default if given is None else float(given)
        if value is None:
            raise IndicatorParamError(f"ta.{spec.name}: {param.name} is required")
        kind = "an integer" if param.integer else "a number"
        if not np.isfinite(value) or value < param.minimum or (param.integer and value != int(value)):
            raise IndicatorParamError(
                f"ta.{spec.name}: {param.name} must be {kind} >= {param.minimum:g}, got {value:g}"
            )
        values.append(value)
    return tuple(values)


# ---------------------------------------------------------------------------------------------
# Building blocks


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def _valid_start(x: FloatArray) -> int:
    """Index of the first defined value (len(x) if none)."""
    defined = np.flatnonzero(~np.isnan(x))
    return int(defined[0]) if len(defined) else len(x)


def _on_defined(fn: Callable[[FloatArray], FloatArray]) -> Callable[[FloatArray], FloatArray]:
    """Apply `fn` to the defined suffix of a series and pad the result back with NaN."""

    def wrapped(x: FloatArray) -> FloatArray:
        start = _valid_start(x)
        out = _nan(len(x))
        if start < len(x):
            out[start:] = fn(x[start:])
        return out

    return wrapped


def _window_sum(x: FloatArray, n: int) -> FloatArray:
    """Sums of each full window of n values, aligned to the window's last index.

    Extended-precision prefix sums keep the difference of two large sums exact to ~1e-15.
    """
    out = _nan(len(x))
    if len(x) >= n:
        prefix = np.concatenate(([0.0], np.cumsum(x, dtype=np.longdouble)))
        out[n - 1 :] = (prefix[n:] - prefix[:-n]).astype(np.float64)
    return out


def _sma(x: FloatArray, n: int) -> FloatArray:
    if n <= 64 and len(x) >= n:
        # a direct convolution is exact per window and faster than extended-precision sums here
        out = _nan(len(x))
        out[n - 1 :] = np.convolve(x, np.full(n, 1.0 / n), mode="valid")
        return out
    return _window_sum(x, n) / n


def _recursive(x: FloatArray, alpha: float, seed: float) -> FloatArray:
    """y[i] = y[i-1] + alpha * (x[i] - y[i-1]) starting from y[-1] = seed (vectorised IIR)."""
    if len(x) == 0:
        return np.empty(0)
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * seed])
    return np.asarray(y, dtype=np.float64)


def _ema_seeded(x: FloatArray, n: int, alpha: float) -> FloatArray:
    """EMA seeded with the mean of the first n values (TA-Lib's default)."""
    out = _nan(len(x))
    if len(x) >= n:
        seed = float(np.mean(x[:n]))
        out[n - 1] = seed
        out[n:] = _recursive(x[n:], alpha, seed)
    return out


def _ema(x: FloatArray, n: int) -> FloatArray:
    return _on_defined(lambda v: _ema_seeded(v, n, 2.0 / (n + 1)))(x)


def _wilder(values: FloatArray, n: int) -> FloatArray:
    """Wilder smoothing of values[1:], seeded with the mean of values[1:n+1] at index n."""
    out = _nan(len(values))
    if len(values) > n:
        seed = float(np.mean(values[1 : n + 1]))
        out[n] = seed
        out[n + 1 :] = _recursive(values[n + 1 :], 1.0 / n, seed)
    return out


def _blocks(n_rows: int, width: int) -> list[tuple[int, int]]:
    """Row blocks that keep a sliding-window view under ~16 MB of temporaries."""
    step = max(1, 2_000_000 // max(width, 1))
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _rolling_std(x: FloatArray, n: int) -> FloatArray:
    """Population standard deviation over each window (two-pass per window, exact)."""
    out = _nan(len(x))
    if len(x) >= n:
        windows = sliding_window_view(x, n)
        result = np.empty(len(windows))
        for start, stop in _blocks(len(windows), n):
            block = windows[start:stop]
            result[start:stop] = block.std(axis=1)
        out[n - 1 :] = result
    return out


def _rolling_max(x: FloatArray, n: int) -> FloatArray:
    out = _nan(len(x))
    if len(x) >= n:
        out[n - 1 :] = maximum_filter1d(x, n, origin=(n - 1) // 2, mode="nearest")[n - 1 :]
    return out


def _rolling_min(x: FloatArray, n: int) -> FloatArray:
    out = _nan(len(x))
    if len(x) >= n:
        out[n - 1 :] = minimum_filter1d(x, n, origin=(n - 1) // 2, mode="nearest")[n - 1 :]
    return out


def _shift_back(x: FloatArray, n: int) -> FloatArray:
    """x[i - n] at index i (NaN before)."""
    out = _nan(len(x))
    if len(x) > n:
        out[n:] = x[:-n]
    return out


def _safe_ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """numerator / denominator, 0 where the denominator is 0 (TA-Lib's convention)."""
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    out[np.isnan(numerator) | np.isnan(denominator)] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
# Indicators


def _p(params: Params, k: int) -> int:
    return int(params[k])


def sma(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    return (_on_defined(lambda v: _sma(v, n))(inputs["source"]),)


def ema(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    return (_ema(inputs["source"], _p(params, 0)),)


def wma(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    weights = np.arange(n, 0, -1, dtype=np.float64) / (n * (n + 1) / 2)

    def compute(v: FloatArray) -> FloatArray:
        out = _nan(len(v))
        if len(v) >= n:
            out[n - 1 :] = np.convolve(v, weights, mode="valid")
        return out

    return (_on_defined(compute)(inputs["source"]),)


def dema(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    e1 = _ema(inputs["source"], n)
    e2 = _ema(e1, n)
    return (2.0 * e1 - e2,)


def tema(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    e1 = _ema(inputs["source"], n)
    e2 = _ema(e1, n)
    e3 = _ema(e2, n)
    return (3.0 * e1 - 3.0 * e2 + e3,)


def rsi(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)

    def compute(v: FloatArray) -> FloatArray:
        change = np.r_[0.0, np.diff(v)]
        gain = _wilder(np.maximum(change, 0.0), n)
        loss = _wilder(np.maximum(-change, 0.0), n)
        return 100.0 * _safe_ratio(gain, gain + loss)

    return (_on_defined(compute)(inputs["source"]),)


def macd(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    fast, slow, signal = _p(params, 0), _p(params, 1), _p(params, 2)
    if fast > slow:
        fast, slow = slow, fast

    def line_of(v: FloatArray) -> FloatArray:
        # TA-Lib starts both averages at the slow one's first index: the fast EMA is seeded with
        # the mean of the `fast` values ending there.
        out = _nan(len(v))
        if len(v) >= slow:
            slow_ema = _ema_seeded(v, slow, 2.0 / (slow + 1))
            fast_ema = _nan(len(v))
            fast_ema[slow - fast :] = _ema_seeded(v[slow - fast :], fast, 2.0 / (fast + 1))
            out[slow - 1 :] = fast_ema[slow - 1 :] - slow_ema[slow - 1 :]
        return out

    line = _on_defined(line_of)(inputs["source"])
    signal_line = _ema(line, signal)
    line = np.where(np.isnan(signal_line), np.nan, line)
    return line, signal_line, line - signal_line


def bollinger(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n, k = _p(params, 0), params[1]
    source = inputs["source"]
    middle = _on_defined(lambda v: _sma(v, n))(source)
    spread = k * _on_defined(lambda v: _rolling_std(v, n))(source)
    return middle + spread, middle, middle - spread


def stddev(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n, k = _p(params, 0), params[1]
    return (k * _on_defined(lambda v: _rolling_std(v, n))(inputs["source"]),)


def _true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    previous = np.r_[np.nan, close[:-1]]
    ranges = np.vstack((high - low, np.abs(high - previous), np.abs(low - previous)))
    tr: FloatArray = np.max(ranges, axis=0)
    if len(tr):
        tr[0] = np.nan
    return tr


def atr(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    return (_wilder(_true_range(inputs["high"], inputs["low"], inputs["close"]), n),)


def stoch(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    k_period, k_smooth, d_period = _p(params, 0), _p(params, 1), _p(params, 2)
    high, low, close = inputs["high"], inputs["low"], inputs["close"]
    highest, lowest = _rolling_max(high, k_period), _rolling_min(low, k_period)
    fast_k = 100.0 * _safe_ratio(close - lowest, highest - lowest)
    slow_k = _on_defined(lambda v: _sma(v, k_smooth))(fast_k)
    slow_d = _on_defined(lambda v: _sma(v, d_period))(slow_k)
    slow_k = np.where(np.isnan(slow_d), np.nan, slow_k)
    return slow_k, slow_d


def obv(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    close, volume = inputs["close"], inputs["volume"]
    if len(close) == 0:
        return (np.empty(0),)
    direction = np.sign(np.r_[0.0, np.diff(close)])
    signed = direction * volume
    signed[0] = volume[0]
    return (np.cumsum(signed),)


def vwap(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    typical = (inputs["high"] + inputs["low"] + inputs["close"]) / 3.0
    volume = inputs["volume"]
    weighted = _window_sum(typical * volume, n)
    total = _window_sum(volume, n)
    # A window without volume has no traded price: use the typical price.
    out = np.where(total > 0, weighted / np.where(total > 0, total, 1.0), typical)
    out[np.isnan(total)] = np.nan
    return (out,)


def roc(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)

    def compute(v: FloatArray) -> FloatArray:
        previous = _shift_back(v, n)
        return 100.0 * _safe_ratio(v - previous, previous)

    return (_on_defined(compute)(inputs["source"]),)


def mom(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    return (_on_defined(lambda v: v - _shift_back(v, n))(inputs["source"]),)


def highest(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    return (_on_defined(lambda v: _rolling_max(v, n))(inputs["source"]),)


def lowest(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    return (_on_defined(lambda v: _rolling_min(v, n))(inputs["source"]),)


def cci(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    typical = (inputs["high"] + inputs["low"] + inputs["close"]) / 3.0
    out = _nan(len(typical))
    if len(typical) >= n:
        windows = sliding_window_view(typical, n)
        mean = windows.mean(axis=1)
        deviation = np.empty(len(windows))
        for start, stop in _blocks(len(windows), n):
            block = windows[start:stop]
            deviation[start:stop] = np.abs(block - mean[start:stop, None]).mean(axis=1)
        out[n - 1 :] = _safe_ratio(typical[n - 1 :] - mean, 0.015 * deviation)
    return (out,)


def willr(inputs: Mapping[str, FloatArray], params: Params) -> tuple[FloatArray, ...]:
    n = _p(params, 0)
    highest_high = _rolling_max(inputs["high"], n)
    lowest_low = _rolling_min(inputs["low"], n)
    return (-100.0 * _safe_ratio(highest_high - inputs["close"], highest_high - lowest_low),)


# ---------------------------------------------------------------------------------------------
# Registry


def _period(default: float | None = None, minimum: float = 1) -> Param:
    return Param("period", default, minimum)


def _single(
    name: str, fn: Compute, period: Param, needed: Callable[[int], int], source: str = "close"
) -> IndicatorSpec:
    return IndicatorSpec(
        name, (period,), ("source",), source, ("value",), fn, lambda p, _k: needed(int(p[0]))
    )


_HLC = ("high", "low", "close")

_SPECS: tuple[IndicatorSpec, ...] = (
    _single("sma", sma, _period(), lambda n: n),
    _single("ema", ema, _period(), lambda n: n),
    _single("wma", wma, _period(), lambda n: n),
    _single("dema", dema, _period(), lambda n: 2 * n - 1),
    _single("tema", tema, _period(), lambda n: 3 * n - 2),
    _single("rsi", rsi, _period(14), lambda n: n + 1),
    _single("roc", roc, _period(10), lambda n: n + 1),
    _single("mom", mom, _period(10), lambda n: n + 1),
    _single("highest", highest, _period(), lambda n: n, source="high"),
    _single("lowest", lowest, _period(), lambda n: n, source="low"),
    IndicatorSpec(
        "macd",
        (Param("fast", 12, 2), Param("slow", 26, 2), Param("signal", 9, 1)),
        ("source",),
        "close",
        ("macd", "signal", "histogram"),
        macd,
        lambda p, _k: max(int(p[0]), int(p[1])) + int(p[2]) - 1,
    ),
    IndicatorSpec(
        "bollinger",
        (Param("period", 20, 2), Param("deviations", 2, 0, integer=False)),
        ("source",),
        "close",
        ("upper", "middle", "lower"),
        bollinger,
        lambda p, _k: int(p[0]),
    ),
    IndicatorSpec(
        "stddev",
        (Param("period", None, 2), Param("deviations", 1, 0, integer=False)),
        ("source",),
        "close",
        ("value",),
        stddev,
        lambda p, _k: int(p[0]),
    ),
    IndicatorSpec("atr", (_period(14),), _HLC, None, ("value",), atr, lambda p, _k: int(p[0]) + 1),
    IndicatorSpec(
        "stoch",
        (Param("k_period", 14, 1), Param("k_smooth", 3, 1), Param("d_period", 3, 1)),
        _HLC,
        None,
        ("k", "d"),
        stoch,
        lambda p, _k: int(p[0]) + int(p[1]) + int(p[2]) - 2,
    ),
    IndicatorSpec("obv", (), ("close", "volume"), None, ("value",), obv, lambda p, _k: 1),
    IndicatorSpec(
        "vwap",
        (_period(),),
        ("high", "low", "close", "volume"),
        None,
        ("value",),
        vwap,
        lambda p, _k: int(p[0]),
    ),
    IndicatorSpec("cci", (_period(20, 2),), _HLC, None, ("value",), cci, lambda p, _k: int(p[0])),
    IndicatorSpec("willr", (_period(14),), _HLC, None, ("value",), willr, lambda p, _k: int(p[0])),
)

INDICATORS: Mapping[str, IndicatorSpec] = {spec.name: spec for spec in _SPECS}
