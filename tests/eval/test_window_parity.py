"""Live decisions on sized windows equal the backtest's decisions over the full history.

Each strategy is evaluated as a worker evaluates it (LiveEvaluator, the window the decision
service would send: the last `WindowSizer` candles up to the close) at every candle of a real
candle file, and compared with `run_over_history` on the whole file: the decisions a backtest
trades on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.positions import TargetPosition
from tradewinds.eval.book import params_key
from tradewinds.eval.window_rules import IndicatorCall, candles_needed
from tradewinds.eval.window_sizer import WindowSizer
from tradewinds.strategy.history import run_over_history
from tradewinds.strategy.indicators import INDICATORS
from tradewinds.strategy.live import LiveEvaluator, Outcome

DATA = Path(__file__).resolve().parents[2] / "data"

EMA_50 = 'if close() > ta.ema(50)() then return "long" end return "short"'
RSI_14 = 'local r = ta.rsi(14) if r() < 35 then return "long" elseif r() > 65 then return "short" end'
MACD = (
    "local line, signal = ta.macd(12, 26, 9)\n"
    'if crossover(line, signal) then return "long" elseif crossunder(line, signal) then return "short" end'
)
SMOOTHED_RSI = 'if ta.ema(10, ta.rsi(14))() > 50 then return "long" end return "short"'


@pytest.fixture(scope="module")
def sizer() -> Iterator[WindowSizer]:
    sizer = WindowSizer()
    yield sizer
    sizer.close()


@pytest.fixture(scope="module")
def hourly() -> CandleArrays:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv")
    return candles.slice(0, 6_000)


def live_decisions(source: str, candles: CandleArrays, window: int, full: np.ndarray) -> np.ndarray:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(source)
    out = np.zeros(len(candles), dtype=np.int8)
    position = TargetPosition.SHORT
    for i in range(len(candles)):
        evaluator.set_position(sid, position)  # what the backtest's position() said at this candle
        [result] = evaluator.evaluate(candles.slice(max(0, i + 1 - window), i + 1), [sid])
        assert result.outcome in (Outcome.DECIDED, Outcome.KEPT, Outcome.WARMING_UP), result.message
        if result.outcome is Outcome.DECIDED:
            out[i] = 1 if result.target is TargetPosition.LONG else -1
        if full[i] != 0:
            position = TargetPosition.LONG if full[i] > 0 else TargetPosition.SHORT
    return out


@pytest.mark.parametrize(
    ("source", "at_least"),
    [(EMA_50, 50 + 600), (RSI_14, 15 + 300), (MACD, 34 + 400), (SMOOTHED_RSI, 300)],
    ids=["ema50", "rsi14", "macd", "ema-of-rsi"],
)
def test_live_windows_decide_as_the_full_history_backtest(
    source: str, at_least: int, hourly: CandleArrays, sizer: WindowSizer
) -> None:
    window = sizer.size(1, params_key({}), source, {})
    assert at_least <= window < 2_000, window
    full = run_over_history(source, hourly).decisions
    live = live_decisions(source, hourly, window, full)
    differ = np.flatnonzero(live != full)
    assert differ.size == 0, f"{differ.size} candles differ, first at {differ[:5]} (window {window})"
    assert np.count_nonzero(full) > 100  # the strategies do trade


def test_sized_ema_equals_full_history_where_a_fixed_window_does_not(hourly: CandleArrays) -> None:
    spec = INDICATORS["ema"]
    close = hourly.close
    full = spec.compute({"source": close}, (200.0,))[0][-1]
    sized = candles_needed(IndicatorCall("ema", (200.0,)))
    windowed = spec.compute({"source": close[-sized:]}, (200.0,))[0][-1]
    short = spec.compute({"source": close[-500:]}, (200.0,))[0][-1]
    assert abs(windowed - full) / abs(full) < 1e-9
    assert abs(short - full) / abs(full) > 1e-6  # why windows are sized: 500 candles are not enough
