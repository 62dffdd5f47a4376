"""Every `ta.NAME` a strategy can call: parameters, inputs, outputs and how to compute each."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tradewinds.strategy.indicators import averages, oscillators, ranges, volume
from tradewinds.strategy.indicators.spec import FloatArray, IndicatorSpec, Param

SOURCE = ("source",)
HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")
VALUE = ("value",)


def _outputs(function: Callable[..., FloatArray]) -> Callable[..., tuple[FloatArray, ...]]:
    """Adapt a single-output function to the spec's one-array-per-output shape."""

    def single(*args: object) -> tuple[FloatArray, ...]:
        return (function(*args),)

    return single


def _period(default: float | None = None, minimum: float = 1) -> Param:
    return Param("period", default, minimum)


def _on_source(
    name: str,
    function: Callable[..., FloatArray],
    period: Param,
    lookback: Callable[..., int],
    default_source: str = "close",
) -> IndicatorSpec:
    return IndicatorSpec(name, (period,), SOURCE, default_source, VALUE, _outputs(function), lookback)


# Parameter minimums are TA-Lib's, so every accepted call has a TA-Lib counterpart to test against.
_SPECS = (
    _on_source("sma", averages.sma, _period(), averages.moving_average_lookback),
    _on_source("ema", averages.ema, _period(), averages.moving_average_lookback),
    _on_source("wma", averages.wma, _period(), averages.moving_average_lookback),
    _on_source("dema", averages.dema, _period(), averages.dema_lookback),
    _on_source("tema", averages.tema, _period(), averages.tema_lookback),
    IndicatorSpec(
        "macd",
        (Param("fast", 12, 2), Param("slow", 26, 2), Param("signal", 9, 1)),
        SOURCE,
        "close",
        ("macd", "signal", "histogram"),
        averages.macd,
        averages.macd_lookback,
    ),
    _on_source("rsi", oscillators.rsi, _period(14, 2), oscillators.rsi_lookback),
    _on_source("roc", oscillators.roc, _period(10), oscillators.change_lookback),
    _on_source("mom", oscillators.mom, _period(10), oscillators.change_lookback),
    IndicatorSpec(
        "stoch",
        (Param("k_period", 14, 1), Param("k_smooth", 3, 1), Param("d_period", 3, 1)),
        HLC,
        None,
        ("k", "d"),
        oscillators.stoch,
        oscillators.stoch_lookback,
    ),
    IndicatorSpec(
        "willr", (_period(14, 2),), HLC, None, VALUE, _outputs(oscillators.willr), oscillators.window_lookback
    ),
    IndicatorSpec(
        "cci", (_period(20, 2),), HLC, None, VALUE, _outputs(oscillators.cci), oscillators.window_lookback
    ),
    _on_source("highest", ranges.highest, _period(None, 2), oscillators.window_lookback, "high"),
    _on_source("lowest", ranges.lowest, _period(None, 2), oscillators.window_lookback, "low"),
    IndicatorSpec(
        "stddev",
        (_period(None, 2), Param("deviations", 1, 0, integer=False)),
        SOURCE,
        "close",
        VALUE,
        _outputs(ranges.stddev),
        ranges.range_lookback,
    ),
    IndicatorSpec(
        "bollinger",
        (_period(20, 2), Param("deviations", 2, 0, integer=False)),
        SOURCE,
        "close",
        ("upper", "middle", "lower"),
        ranges.bollinger,
        ranges.range_lookback,
    ),
    IndicatorSpec("atr", (_period(14),), HLC, None, VALUE, _outputs(ranges.atr), ranges.atr_lookback),
    IndicatorSpec("obv", (), ("close", "volume"), None, VALUE, _outputs(volume.obv), volume.obv_lookback),
    IndicatorSpec("vwap", (_period(),), HLCV, None, VALUE, _outputs(volume.vwap), volume.vwap_lookback),
    IndicatorSpec("mfi", (_period(14, 2),), HLCV, None, VALUE, _outputs(volume.mfi), volume.mfi_lookback),
)

INDICATORS: Mapping[str, IndicatorSpec] = {spec.name: spec for spec in _SPECS}
