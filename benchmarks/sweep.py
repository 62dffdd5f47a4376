"""Sweep speed: 1,000 combinations of a two-parameter SMA/EMA crossover over a year of minutes.

Goal (issue 7): under 60 s on a 2-core machine, every result equal to the single backtest with the
same parameters (checked here on a sample). Run: .venv/bin/python benchmarks/sweep.py [--jobs N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from backtest import year_of_minutes
from tradewinds.backtest.portfolio import FillPrice
from tradewinds.backtest.runner import run_backtest
from tradewinds.backtest.sweep import (
    SweepSettings,
    available_cores,
    combinations,
    parse_axis,
    run_sweep,
)
from tradewinds.strategy.limits import Limits

CROSSOVER = """
local fast = ta.sma(param("fast", 10))
local slow = ta.ema(param("slow", 30))
if fast() > slow() then return "long" else return "short" end
"""
# 40 x 25 = 1,000 combinations
AXES = ("fast=5:200:5", "slow=20:260:10")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=available_cores())
    parser.add_argument("--check", type=int, default=5, help="combinations compared to single runs")
    args = parser.parse_args()
    candles = year_of_minutes()
    plan = combinations([parse_axis(axis) for axis in AXES])
    settings = SweepSettings(CROSSOVER, {}, 10_000.0, 0.001, FillPrice.CLOSE, Limits(), "crossover")
    started = time.perf_counter()
    cpu_before = _cpu_seconds()
    results, _ = run_sweep(candles, plan, settings, jobs=args.jobs)
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    failed = sum(r.metrics is None for r in results)
    print(f"sweep: {len(plan):,} combinations x {len(candles):,} 1m candles, {args.jobs} jobs")
    print(f"  {elapsed:.1f} s wall, {elapsed / len(plan) * 1000:.1f} ms per combination, {failed} failed")
    # Wall time depends on what else the machine runs; CPU time is the work itself.
    print(f"  {cpu:.1f} s CPU (all processes): {cpu / args.jobs:.1f} s of wall on {args.jobs} idle cores")
    print(f"  goal: under 60 s -> {'met' if elapsed < 60 and not failed else 'NOT met'}")
    for result in [r for r in results if r.metrics is None][:3]:
        print(f"  failed: {result.params}: {result.error}")
    step = max(1, len(plan) // max(1, args.check))
    for result in results[::step][: args.check]:
        single = run_backtest(CROSSOVER, candles, params=result.params)
        assert single.metrics == result.metrics, (result.params, single.metrics, result.metrics)
    print(f"  {min(args.check, len(plan))} sampled combinations equal their single backtests")


def _cpu_seconds() -> float:
    """CPU of this process and of every waited-for descendant (pool and history workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
