"""History runs in the supervised worker process."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy import Limits, StrategyLimitExceeded, run_over_history

RULE = "if close() > open() then return 'long' elseif close() < open() then return 'short' end"


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
