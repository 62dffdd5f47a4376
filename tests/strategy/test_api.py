"""The strategy API as documented in docs/strategies.md."""

from __future__ import annotations

import numpy as np
import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.strategy import (
    LiveEvaluator,
    Outcome,
    StrategyRuntimeError,
    StrategySyntaxError,
    check_strategy,
    run_over_history,
)

PAPER_EXAMPLE = """\
// Simple moving average
local sma = ta.sma(10)
// Exponential moving average
local ema = ta.ema(10)
// Short term > long term
if sma() > ema() then
  return "short"
else
  return "long"
end
"""


def sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for i in range(n - 1, len(x)):
        out[i] = sum(x[i - n + 1 : i + 1]) / n
    return out


def ema(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    k = 2 / (n + 1)
    value = sum(x[:n]) / n
    out[n - 1] = value
    for i in range(n, len(x)):
        value = value + k * (x[i] - value)
        out[i] = value
    return out


def test_paper_example_with_slash_comments(candles: CandleArrays) -> None:
    run = run_over_history(PAPER_EXAMPLE, candles)
    fast, slow = sma(candles.close, 10), ema(candles.close, 10)
    expected = np.where(fast > slow, -1, 1).astype(np.int8)
    expected[:9] = 0
    assert run.warmup_candles == 9
    assert run.warmup_message == "warming up: ta.sma(10) needs 10 candles, has 9"
    # Where the two averages are within rounding of each other the reference may disagree.
    close_call = np.abs(fast - slow) < 1e-9 * candles.close
    assert np.array_equal(run.decisions[~close_call], expected[~close_call])


def test_nil_keeps_position_and_series_look_back(candles: CandleArrays) -> None:
    source = "if close() > close(1) then return 'long' elseif close() < close(1) then return 'short' end"
    run = run_over_history(source, candles)
    c = candles.close
    assert run.decisions[0] == 0 and run.warmup_candles == 1
    assert run.warmup_message == "warming up: close(1) needs 2 candles, has 1"
    expected = np.sign(np.diff(c)).astype(np.int8)
    assert np.array_equal(run.decisions[1:], expected)


def test_time_and_prices_are_the_candle(candles: CandleArrays) -> None:
    source = """
      assert(time() == time(0))
      if time() % 120000 == 0 and open() <= high() and low() <= close() and volume() > 0 then
        return "long"
      end
      return "short"
    """
    run = run_over_history(source, candles)
    expected = np.where(candles.time % 120_000 == 0, 1, -1)
    assert np.array_equal(run.decisions, expected)


def test_params_with_defaults(window: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    source = "local n = param('period', 3) if close() > close(n) then return 'long' end return 'short'"
    default = evaluator.add_strategy(source)
    custom = evaluator.add_strategy(source, {"period": 7})
    text = evaluator.add_strategy(source, {"period": "7"})
    d, c, t = evaluator.evaluate(window, [default, custom, text])
    close = window.close
    assert d.target == (TargetPosition.LONG if close[-1] > close[-4] else TargetPosition.SHORT)
    assert c.target == (TargetPosition.LONG if close[-1] > close[-8] else TargetPosition.SHORT)
    assert t.target == c.target


def test_log_is_bounded(candles: CandleArrays) -> None:
    run = run_over_history("for i = 1, 50 do log('tick', i, close() > 0) end return nil", candles)
    assert len(run.logs) == 200
    assert run.logs[0].text == "tick 1 true"
    assert run.logs[0].candle_time_ms == int(candles.time[0])
    long_line = run_over_history("log(string.rep('y', 2000)) return nil", candles.slice(0, 3))
    assert len(long_line.logs[0].text) == 503


def test_invalid_result_is_an_error_naming_it(candles: CandleArrays) -> None:
    with pytest.raises(StrategyRuntimeError, match='returned "buy"; return "long", "short" or nil'):
        run_over_history("return 'buy'", candles)


def test_runtime_error_names_line_and_candle(candles: CandleArrays) -> None:
    source = "local x = close()\nif time() > 0 then\n  return x + nil\nend"
    with pytest.raises(StrategyRuntimeError) as info:
        run_over_history(source, candles)
    error = info.value
    assert error.line == 3 and error.candle_index == 0
    assert str(error).startswith("line 3: attempt to perform arithmetic")
    assert "Traceback" not in str(error)


def test_syntax_errors_are_found_at_check() -> None:
    with pytest.raises(StrategySyntaxError) as info:
        check_strategy("local x = \nif then")
    assert info.value.line == 2
    assert str(info.value).startswith("syntax error: line 2:")
    check_strategy(PAPER_EXAMPLE)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ta.sma(0)", "ta.sma: period must be at least 1 candle, got 0"),
        ("ta.sma('ten')", 'ta.sma: period must be a whole number of candles, got the string "ten"'),
        ("ta.sma({})", "ta.sma: period must be a whole number of candles, got a table"),
        ("ta.sma(0/0)", "ta.sma: period must be a whole number of candles, got NaN"),
        ("ta.sma(math.huge)", "ta.sma: period must be a whole number of candles, got infinity"),
        ("ta.sma(2.5)", "ta.sma: period must be a whole number of candles, got 2.5"),
        ("ta.sma(true)", "ta.sma: period must be a whole number of candles, got true"),
        ("ta.sma(10, 20)", "ta.sma takes at most 1 parameter (period), got 2"),
        ("ta.macd(12, 26, {})", "ta.macd: signal must be a whole number of candles, got a table"),
        ("ta.bollinger(20, 'x')", 'ta.bollinger: deviations must be a number, got the string "x"'),
        ("ta.bollinger(20, -1)", "ta.bollinger: deviations must be at least 0, got -1"),
        ("ta.highest()", "ta.highest: period is required"),
        ("ta.obv(3)", "ta.obv takes no parameters, got 1"),
        ("ta.rsi(1)", "ta.rsi: period must be at least 2 candles, got 1"),
        ("ta.atr(14, close)", "takes no source argument"),
        ("ta.sma(close, 10)", "numeric parameters first"),
        ("ta.smaa(10)", "there is no indicator ta.smaa; did you mean ta.sma?"),
        ("ta.nosuch(3)", "there is no indicator ta.nosuch; see docs/strategies.md"),
        ("local x = ema(10)", "there is no function ema; did you mean ta.ema?"),
        ("local x = crossovr(close, 1)", "there is no function crossovr; did you mean crossover?"),
        ("close(1.5)", "whole number"),
        ("close('x')", "got x"),
        ("crossover(1, 'x')", "crossover(a, b)"),
        ("param(3, 1)", "name must be a string"),
        ("local t = nil; t.x = 1", "attempt to index local 't' (a nil value)"),
        ("local s = ta.sma(3) + 1", "attempt to perform arithmetic"),
        ("math.floor = 1", "math is read-only"),
        ("rawset(ta, 'x', 1)", "cannot rawset a protected table"),
        ("error('\\255 bad')", "? bad"),
    ],
)
def test_api_misuse_is_explained_with_the_line(window: CandleArrays, source: str, message: str) -> None:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(f"local ok = true\n{source}\nreturn nil")
    (result,) = evaluator.evaluate(window, [sid])
    assert result.outcome is Outcome.ERROR
    assert result.message is not None and result.message.startswith("line 2: "), result.message
    assert message in result.message
    # never the sandbox's own lines, heap addresses or tracebacks
    for internal in ("tradewinds-sandbox", "0x", "Lua table", "Traceback", "[string"):
        assert internal not in result.message
    # and a backtest says the same, with the candle
    with pytest.raises(StrategyRuntimeError) as info:
        run_over_history(f"local ok = true\n{source}\nreturn nil", window)
    assert str(info.value).startswith(result.message + " (at candle 0,"), str(info.value)
    assert info.value.line == 2


def test_indicators_compose_and_have_multiple_outputs(window: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(
        """
        local line, signal, hist = ta.macd(12, 26, 9)
        local upper, middle, lower = ta.bollinger(20, 2)
        local smooth = ta.sma(5, ta.rsi(14))
        local k, d = ta.stoch()
        log(line(), signal(), hist(), upper(), middle(), lower(), smooth(), k(), d())
        if math.abs(line() - signal() - hist()) < 1e-9 and upper() > middle() and middle() > lower()
           and smooth() > 0 and smooth() < 100 and k() >= 0 and d() <= 100 then
          return "long"
        end
        return "short"
        """
    )
    (result,) = evaluator.evaluate(window, [sid])
    assert result.target is TargetPosition.LONG, result


def test_crossover_and_position(window: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(
        """
        local fast, slow = ta.sma(3), ta.sma(8)
        local up, down = crossover(fast, slow), crossunder(fast, slow)
        local expected_up = fast() > slow() and fast(1) <= slow(1)
        assert(up == expected_up and not (up and down))
        assert(crossover(close, 0) == false)
        if position() == "long" then return "short" end
        return "long"
        """
    )
    (first,) = evaluator.evaluate(window, [sid])
    evaluator.set_position(sid, TargetPosition.LONG)
    (second,) = evaluator.evaluate(window, [sid])
    assert first.target is TargetPosition.LONG
    assert second.target is TargetPosition.SHORT


def test_warming_up_live_keeps_position(window: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy("return ta.ema(1000)() > 0 and 'long' or 'short'")
    (result,) = evaluator.evaluate(window, [sid])
    assert result.outcome is Outcome.WARMING_UP and result.target is None
    assert result.message == "warming up: ta.ema(1000) needs 1000 candles, has 500"


def test_history_and_live_decide_the_same(candles: CandleArrays) -> None:
    """The backtest semantics are the live platform's: decision at candle i == live on [0..i]."""
    source = """
      local fast, slow = ta.sma(param('fast', 5)), ta.sma(param('slow', 20))
      local r = ta.rsi(14)
      if crossover(fast, slow) and r() < 70 then return "long" end
      if crossunder(fast, slow) or r() > 80 then return "short" end
    """
    params = {"fast": 4, "slow": 15}
    run = run_over_history(source, candles, params)
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(source, params)
    for i in range(0, 400, 7):
        (live,) = evaluator.evaluate(candles.slice(0, i + 1), [sid])
        decided = {TargetPosition.LONG: 1, TargetPosition.SHORT: -1, None: 0}[live.target]
        assert decided == run.decisions[i], i
