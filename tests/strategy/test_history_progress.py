"""A history run tells its caller how far it got (the web desk's backtest progress bar)."""

from __future__ import annotations

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy import run_over_history

SLOW = """local x = 0
for i = 1, 12000 do x = x + math.sin(i) end
if x > 0 then return "long" end
return "short"
"""


def candles(n: int) -> CandleArrays:
    close = 100 + np.sin(np.arange(n) / 10.0)
    return CandleArrays(np.arange(n, dtype=np.int64) * 60_000, close, close + 1, close - 1, close, np.ones(n))


def test_progress_is_reported_while_the_run_goes_and_only_forwards() -> None:
    seen: list[float] = []
    run = run_over_history(SLOW, candles(20_000), on_progress=seen.append)
    assert len(run.decisions) == 20_000
    assert len(seen) >= 3, seen
    assert all(0.0 <= f <= 1.0 for f in seen) and seen == sorted(seen)
    assert seen[-1] > 0.3


def test_no_progress_is_asked_for_by_default() -> None:
    run = run_over_history('return "long"', candles(50))
    assert int(run.decisions[-1]) == 1
