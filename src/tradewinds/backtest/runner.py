"""A whole backtest: candles (optionally rolled up) -> decisions -> account -> metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tradewinds.backtest.metrics import Metrics, compute_metrics
from tradewinds.backtest.portfolio import Account, FillPrice, simulate
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.resample import ClosedRollup, closed_rollup
from tradewinds.domain.timeframes import Timeframe
from tradewinds.strategy import HistoryRun, Limits, run_over_history
from tradewinds.strategy.history import Progress
from tradewinds.strategy.runtime import ParamValue


@dataclass(frozen=True)
class BacktestResult:
    candles: CandleArrays
    run: HistoryRun
    account: Account
    metrics: Metrics
    # Open times of partial buckets left out by the roll-up (the live core never closes them).
    partial_ms: tuple[int, ...] = ()


def candle_spacing_ms(candles: CandleArrays) -> int:
    """The series' timeframe as its smallest gap between candles (gaps are missing candles)."""
    if len(candles) < 2:
        return 0
    return int(np.min(np.diff(candles.time)))


def roll_up(candles: CandleArrays, timeframe: Timeframe) -> ClosedRollup:
    """The closed `timeframe` candles of `candles`: partial buckets at either end are left out."""
    spacing = candle_spacing_ms(candles)
    if spacing and (timeframe.ms < spacing or timeframe.ms % spacing):
        raise ValueError(
            f"cannot make {timeframe.value} candles from candles {spacing // 60000} minutes apart"
        )
    return closed_rollup(candles, timeframe, spacing)


def run_backtest(
    source: str,
    candles: CandleArrays,
    *,
    params: Mapping[str, ParamValue] | None = None,
    cash: float = 10_000.0,
    fee: float = 0.001,
    fill: FillPrice = FillPrice.CLOSE,
    timeframe: Timeframe | None = None,
    limits: Limits | None = None,
    name: str = "strategy",
    reuse_indicators: bool = False,
    on_progress: Progress | None = None,
) -> BacktestResult:
    """Backtest `source` over `candles`. `reuse_indicators`, `on_progress`: see `run_over_history`."""
    partial_ms: tuple[int, ...] = ()
    if timeframe is not None:
        rollup = roll_up(candles, timeframe)
        candles, partial_ms = rollup.candles, rollup.partial_ms
        if len(candles) == 0:
            raise ValueError(
                f"no whole {timeframe.value} candle in the data: a {timeframe.value} candle needs "
                f"its whole period, and the data covers only part of one"
            )
    if len(candles) == 0:
        raise ValueError("no candles to backtest on")
    run = run_over_history(source, candles, params, limits, name, reuse_indicators, on_progress)
    account = simulate(candles, run.decisions, cash, fee, fill)
    metrics = compute_metrics(candles, account, cash, fee, run.warmup_candles)
    return BacktestResult(candles, run, account, metrics, partial_ms)
