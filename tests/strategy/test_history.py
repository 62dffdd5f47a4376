"""History runs in the supervised worker process."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.strategy.conftest import random_walk
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy import (
    Limits,
    LiveEvaluator,
    Outcome,
    StrategyError,
    StrategyLimitExceeded,
    StrategyRuntimeError,
    run_over_history,
)

RULE = "if close() > open() then return 'long' elseif close() < open() then return 'short' end"


@pytest.fixture(scope="module")
def long_history() -> CandleArrays:
    return random_walk(100_000, seed=3)


def expected(candles: CandleArrays) -> np.ndarray:
    return np.sign(candles.close - candles.open).astype(np.int8)


def test_worker_recovers_after_being_killed(candles: CandleArrays) -> None:
    with pytest.raises(StrategyLimitExceeded):
        run_over_history("while true do end", candles, limits=Limits(time_ms=20))
    assert np.array_equal(run_over_history(RULE, candles).decisions, expected(candles))


def test_a_slow_candle_in_the_middle_is_named(candles: CandleArrays) -> None:
    source = "if time() == " + str(int(candles.time[700])) + " then while true do end end return nil"
    with pytest.raises(StrategyLimitExceeded) as info:
        run_over_history(source, candles, limits=Limits(time_ms=20))
    assert "at candle 700" in str(info.value)


def test_runs_of_different_sizes_reuse_the_worker(candles: CandleArrays) -> None:
    for stop in (10, 2000, 50, 1999):
        part = candles.slice(0, stop)
        assert np.array_equal(run_over_history(RULE, part).decisions, expected(part))


def test_concurrent_callers_get_their_own_results(candles: CandleArrays) -> None:
    results: dict[int, np.ndarray] = {}

    def run(stop: int) -> None:
        results[stop] = run_over_history(RULE, candles.slice(0, stop)).decisions

    threads = [threading.Thread(target=run, args=(stop,)) for stop in (300, 900, 1500, 2000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for stop, decisions in results.items():
        assert np.array_equal(decisions, expected(candles.slice(0, stop)))


def test_no_shared_memory_files_leak(candles: CandleArrays) -> None:
    before = {p.name for p in Path("/dev/shm").glob("tradewinds-history-*")}
    run_over_history(RULE, candles)
    with pytest.raises(StrategyLimitExceeded):
        run_over_history("while true do end", candles, limits=Limits(time_ms=20))
    after = {p.name for p in Path("/dev/shm").glob("tradewinds-history-*")}
    # at most the live worker's one buffer remains, and none of a killed worker's
    assert len(after - before) <= 1


# Indicator series in history runs are bounded: count, memory and time.

MANY_SMAS = "for p = 2, 301 do local s = ta.sma(p) end return nil"


def test_too_many_indicator_series_is_a_clear_error(long_history: CandleArrays) -> None:
    started = time.monotonic()
    with pytest.raises(StrategyError) as info:
        run_over_history(MANY_SMAS, long_history, limits=Limits(time_ms=20))
    message = str(info.value)
    assert message.startswith("line 1: indicator limit: a backtest may create at most 100 indicator series")
    assert "(at candle 0," in message
    assert time.monotonic() - started < 2.0


def test_indicator_memory_is_bounded(long_history: CandleArrays) -> None:
    # 100,000 candles: 0.8 MB a series, so 10 MiB holds 13 of them.
    with pytest.raises(
        StrategyError, match=r"line 1: indicator memory limit of 10 MiB exceeded: ta.sma over"
    ):
        run_over_history(MANY_SMAS, long_history, limits=Limits(indicator_memory_mb=10))


def test_time_creating_indicators_counts_against_a_budget(long_history: CandleArrays) -> None:
    limits = Limits(time_ms=20, max_indicator_series=10_000, indicator_memory_mb=4096, indicator_time_ms=30)
    with pytest.raises(StrategyError, match=r"indicator time limit of 30 ms exceeded"):
        run_over_history(MANY_SMAS, long_history, limits=limits)


def test_indicators_within_the_limits_run(long_history: CandleArrays) -> None:
    run = run_over_history(
        "local a, b = ta.sma(10), ta.ema(20) if a() > b() then return 'long' end", long_history
    )
    assert run.decisions.any()


def test_a_history_time_limit_names_the_strategys_line(candles: CandleArrays) -> None:
    source = (
        "local x = close()\nif time() == " + str(int(candles.time[700])) + " then\n  while true do end\nend"
    )
    with pytest.raises(StrategyLimitExceeded) as info:
        run_over_history(source, candles, limits=Limits(time_ms=20))
    assert info.value.line == 3
    assert str(info.value).startswith("line 3: time limit of 20 ms exceeded at candle 700 (")
    # the worker is healthy afterwards
    assert np.array_equal(run_over_history(RULE, candles).decisions, expected(candles))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("return 1", 'the strategy returned the number 1; return "long", "short" or nil'),
        ("return 2.5", "returned the number 2.5;"),
        ("return {}", "returned a table;"),
        ("return true", "returned true;"),
        ("return 'buy\\255'", 'returned "buy?";'),
    ],
)
def test_a_wrong_result_says_what_was_returned(candles: CandleArrays, source: str, message: str) -> None:
    with pytest.raises(StrategyRuntimeError, match=re.escape(message)):
        run_over_history(source, candles)
    evaluator = LiveEvaluator()
    (result,) = evaluator.evaluate(candles, [evaluator.add_strategy(source)])
    assert result.outcome is Outcome.ERROR and message in (result.message or "")


def test_text_that_is_not_utf8_cannot_break_an_evaluation(candles: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    bad = evaluator.add_strategy("log('caf\\233') error('bad \\255 byte')")
    good = evaluator.add_strategy("return 'long'")
    first, second = evaluator.evaluate(candles, [bad, good])
    assert first.logs == ["caf?"] and first.message == "line 1: bad ? byte"
    assert second.outcome is Outcome.DECIDED
    run = run_over_history("log('\\255', 'é') return nil", candles.slice(0, 3))
    assert run.logs[0].text == "? é"
