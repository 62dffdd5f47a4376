"""Live evaluation throughput: 10,000 different strategies on one 500-candle window, and the same
10,000 spread over 200 markets (50 each, as `benchmarks/pipeline.py` assigns them), where every
market computes its own indicators.

This is what an evaluation worker does after a candle closes. Run:
.venv/bin/python benchmarks/evaluate.py
"""

from __future__ import annotations

import time

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.strategy import LiveEvaluator, Outcome, SupervisedEvaluator

STRATEGIES = 10_000
WINDOW = 500


MARKETS = 200


def window(seed: int = 9) -> CandleArrays:
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.001, WINDOW)))
    open_ = np.r_[close[0], close[:-1]]
    return CandleArrays(
        time=np.arange(WINDOW, dtype=np.int64) * 60_000,
        open=open_,
        high=np.maximum(open_, close) * 1.0005,
        low=np.minimum(open_, close) * 0.9995,
        close=close,
        volume=rng.uniform(1, 5, WINDOW),
    )


def strategy(i: int) -> tuple[str, str]:
    """A varied population: the example with many periods, RSI and MACD strategies."""
    kind = i % 3
    if kind == 0:
        fast, slow = 3 + i % 40, 10 + (i // 40) % 60
        return "sma_ema", (
            f"local s = ta.sma({fast}) local e = ta.ema({slow})\n"
            'if s() > e() then return "short" else return "long" end'
        )
    if kind == 1:
        period, low = 5 + i % 30, 20 + (i // 30) % 20
        return "rsi", (
            f"local r = ta.rsi({period})\n"
            f'if r() < {low} then return "long" elseif r() > {100 - low} then return "short" end'
        )
    fast = 5 + i % 10
    slow = fast + 5 + (i // 10) % 20
    return "macd", (
        f"local line, signal = ta.macd({fast}, {slow}, 9)\n"
        'if line() > signal() then return "long" else return "short" end'
    )


def check_sample(candles: CandleArrays, results: list, sources: list[str]) -> None:  # type: ignore[type-arg]
    """Recompute a few SMA/EMA decisions in plain Python."""
    close = candles.close
    for i in range(0, STRATEGIES, 3 * 97):
        fast, slow = 3 + i % 40, 10 + (i // 40) % 60
        sma = close[-fast:].mean()
        ema = close[:slow].mean()
        for price in close[slow:]:
            ema += 2 / (slow + 1) * (price - ema)
        expected = TargetPosition.SHORT if sma > ema else TargetPosition.LONG
        assert results[i].target is expected, (i, sources[i])


def main() -> None:
    candles = window()
    sources = [strategy(i)[1] for i in range(STRATEGIES)]
    evaluator = LiveEvaluator()
    ids = [evaluator.add_strategy(source) for source in sources]
    best = float("inf")
    results = []
    for _ in range(5):
        started = time.perf_counter()
        results = evaluator.evaluate(candles, ids)
        best = min(best, time.perf_counter() - started)
    check_sample(candles, results, sources)
    decided = sum(r.outcome is Outcome.DECIDED for r in results)
    print(f"{STRATEGIES:,} strategies on a {WINDOW}-candle window, one core, in-process")
    print(f"  {best * 1000:.1f} ms per batch: {STRATEGIES / best:,.0f} evaluations/s (goal 50,000/s)")
    print(f"  decided {decided:,}; others kept their position (nil or warming up)")

    markets = [window(seed) for seed in range(MARKETS)]
    per_market = STRATEGIES // MARKETS
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for number, candles in enumerate(markets):
            evaluator.evaluate(candles, ids[number * per_market : (number + 1) * per_market])
        best = min(best, time.perf_counter() - started)
    print(f"  over {MARKETS} markets ({per_market} strategies each): {best * 1000:.0f} ms per close of all")

    with SupervisedEvaluator() as supervised:
        for source in sources:
            supervised.add_strategy(source)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            supervised.evaluate(candles, ids)
            best = min(best, time.perf_counter() - started)
    print(f"  through the supervised child process: {STRATEGIES / best:,.0f} evaluations/s")


if __name__ == "__main__":
    main()
