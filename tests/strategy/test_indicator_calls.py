"""indicators/calls.py: a `ta.*` call worked out once, the same each time, for each source."""

from __future__ import annotations

import pytest

from tradewinds.strategy.indicators import INDICATORS, IndicatorParamError
from tradewinds.strategy.indicators.calls import indicator_call


def test_defaults_labels_and_warmups_follow_the_spec() -> None:
    macd = indicator_call("macd", (), "close")
    assert macd.params == (12.0, 26.0, 9.0)
    assert macd.labels == tuple(f"ta.macd(12, 26, 9).{output}" for output in ("macd", "signal", "histogram"))
    assert macd.warmups == (33, 33, 33)  # TA-Lib's MACD lookback: 25 + 8
    sma = indicator_call("sma", (10,), "close")
    assert (sma.labels, sma.warmups) == (("ta.sma(10)",), (9,))
    assert indicator_call("sma", (10,), "close") is sma  # kept


def test_a_source_other_than_the_default_is_named_in_the_label() -> None:
    assert indicator_call("sma", (10,), "open").labels == ("ta.sma(10, open)",)
    assert indicator_call("ema", (5,), "ta.rsi(14)").labels == ("ta.ema(5, ta.rsi(14))",)
    assert indicator_call("sma", (10,), "close").labels == ("ta.sma(10)",)
    # Price-column indicators read fixed columns: no source in their label.
    atr = INDICATORS["atr"]
    assert atr.inputs != ("source",)
    assert indicator_call("atr", (14,), "open").labels == ("ta.atr(14)",)


def test_a_parameter_out_of_range_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(IndicatorParamError, match=r"ta\.sma: period"):
            indicator_call("sma", (0,), "close")
