"""Parameter sweeps: every combination of `param()` values, each one whole backtest, on all cores.

Planning is pure: `parse_axis("fast=5:50:5")` gives the values of one parameter (both ends
included), `combinations` their product with the first axis outermost, `ranked` orders results by
a metric. `run_sweep` runs the combinations in worker processes forked from this one (they
inherit the candles, rolled up once here), each calling `run_backtest` exactly as a single
backtest does, so every result is that backtest's. Consecutive combinations share the outer
parameters and go to the same worker in chunks, whose history runs keep indicator series between
runs over the same candles.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.util
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from itertools import product
from typing import Any

from tradewinds.backtest.metrics import Metrics
from tradewinds.backtest.portfolio import FillPrice
from tradewinds.backtest.report import JSON_KEYS
from tradewinds.backtest.runner import BacktestResult, roll_up, run_backtest
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.timeframes import Timeframe
from tradewinds.strategy.errors import StrategyError, StrategyLimitExceeded
from tradewinds.strategy.history import stop_history_worker
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.runtime import ParamValue

# A sweep this large is a typo in a range, not a plan (it would run for days).
MAX_COMBINATIONS = 1_000_000
# Metrics a sweep can rank by, and whether more is better.
RANKINGS: Mapping[str, bool] = {
    "sharpe": True,
    "total_return": True,
    "final_equity": True,
    "win_rate": True,
    "exposure": True,
    "trades": True,
    "max_drawdown": False,
}

Combination = dict[str, ParamValue]


class SweepError(ValueError):
    """A sweep that cannot be planned; the message names the option and what is wrong."""


@dataclass(frozen=True)
class SweepAxis:
    name: str
    values: tuple[int | float, ...]


@dataclass(frozen=True)
class SweepSettings:
    """What every combination's backtest shares besides the candles."""

    source: str
    params: Mapping[str, ParamValue]  # fixed --param values
    cash: float
    fee: float
    fill: FillPrice
    limits: Limits
    name: str


@dataclass(frozen=True)
class SweepResult:
    index: int  # position in the planned order
    params: Combination
    metrics: Metrics | None  # None when the strategy failed with these parameters
    error: str | None
    params_read: frozenset[str]


def parse_axis(text: str) -> SweepAxis:
    """`NAME=START:STOP:STEP` (both ends included) or `NAME=V1,V2,...`; integers stay integers."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise SweepError(f"--sweep {text!r}: expected NAME=START:STOP:STEP or NAME=V1,V2,...")
    try:
        if ":" in spec:
            values = _range_values(spec)
        else:
            values = tuple(_number(Decimal(part.strip())) for part in spec.split(","))
    except (InvalidOperation, ValueError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) and str(exc) else "values must be numbers"
        raise SweepError(f"--sweep {text}: {detail}") from None
    if len(set(values)) != len(values):
        raise SweepError(f"--sweep {text}: a value is listed twice")
    return SweepAxis(name, values)


def _range_values(spec: str) -> tuple[int | float, ...]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError("a range is START:STOP:STEP")
    start, stop, step = (Decimal(part.strip()) for part in parts)
    if not all(d.is_finite() for d in (start, stop, step)):
        raise ValueError("values must be finite numbers")
    if step <= 0:
        raise ValueError("STEP must be positive")
    if stop < start:
        raise ValueError("STOP must not be below START")
    count = int((stop - start) // step) + 1
    if count > MAX_COMBINATIONS:
        raise ValueError(f"{count:,} values; at most {MAX_COMBINATIONS:,}")
    # Decimal steps: 0.1:0.3:0.1 gives 0.1, 0.2, 0.3 (binary floats would miss the end).
    return tuple(_number(start + k * step) for k in range(count))


def _number(value: Decimal) -> int | float:
    if not value.is_finite():
        raise ValueError("values must be finite numbers")
    return int(value) if value == value.to_integral_value() else float(value)


def combinations(axes: Sequence[SweepAxis]) -> list[Combination]:
    """Every combination of the axes' values, the first axis outermost."""
    names = [axis.name for axis in axes]
    if len(set(names)) != len(names):
        raise SweepError("--sweep: each parameter may be swept once")
    total = math.prod(len(axis.values) for axis in axes)
    if total > MAX_COMBINATIONS:
        raise SweepError(f"--sweep: {total:,} combinations; at most {MAX_COMBINATIONS:,}")
    return [dict(zip(names, values, strict=True)) for values in product(*(a.values for a in axes))]


def ranked(results: Sequence[SweepResult], by: str) -> list[SweepResult]:
    """Results best first by the metric `by`; failed combinations last, in planned order."""
    if by not in RANKINGS:
        raise SweepError(f"--rank {by}: choose one of {', '.join(RANKINGS)}")
    higher = RANKINGS[by]

    def key(result: SweepResult) -> tuple[int, float, int]:
        if result.metrics is None:
            return (1, 0.0, result.index)
        value = float(getattr(result.metrics, by))
        if math.isnan(value):
            return (1, 0.0, result.index)
        return (0, -value if higher else value, result.index)

    return sorted(results, key=key)


def run_sweep(
    candles: CandleArrays,
    plan: Sequence[Combination],
    settings: SweepSettings,
    *,
    timeframe: Timeframe | None = None,
    jobs: int | None = None,
    on_result: Callable[[SweepResult], None] | None = None,
) -> tuple[list[SweepResult], tuple[int, ...]]:
    """Backtest every combination of `plan`; results in planned order, and the partial buckets
    the roll-up left out (as `BacktestResult.partial_ms`)."""
    partial_ms: tuple[int, ...] = ()
    if timeframe is not None:
        rollup = roll_up(candles, timeframe)
        candles, partial_ms = rollup.candles, rollup.partial_ms
    jobs = max(1, min(jobs or available_cores(), len(plan)))
    results: list[SweepResult | None] = [None] * len(plan)
    for result in _results(candles, list(enumerate(plan)), settings, jobs):
        results[result.index] = result
        if on_result is not None:
            on_result(result)
    return [r for r in results if r is not None], partial_ms


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _results(
    candles: CandleArrays, indexed: list[tuple[int, Combination]], settings: SweepSettings, jobs: int
) -> Iterator[SweepResult]:
    if jobs == 1:
        for index, combination in indexed:
            yield _backtest(candles, settings, index, combination)
        return
    # Chunks of consecutive combinations (they share the outer parameters' indicator series,
    # which a worker keeps across chunks anyway): small, so every worker stays busy to the end
    # and Ctrl-C waits for little.
    size = max(1, min(8, len(indexed) // (jobs * 8)))
    chunks = [indexed[i : i + size] for i in range(0, len(indexed), size)]
    # Fork: the workers inherit the candles and settings instead of unpickling them each.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, context, initializer=_start_worker, initargs=(candles, settings)) as pool:
        pending: set[Future[list[SweepResult]]] = {pool.submit(_run_chunk, chunk) for chunk in chunks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:
            # Stopped early (Ctrl-C, a wrong parameter name): drop what has not started.
            pool.shutdown(wait=True, cancel_futures=True)


_worker_job: tuple[CandleArrays, SweepSettings] | None = None


def _start_worker(candles: CandleArrays, settings: SweepSettings) -> None:  # pragma: no cover
    global _worker_job
    _worker_job = (candles, settings)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool
    # Pool workers end with os._exit, skipping atexit: stop the history worker (and remove its
    # shared memory) from multiprocessing's own exit hook instead.
    multiprocessing.util.Finalize(None, stop_history_worker, exitpriority=10)


def _run_chunk(chunk: list[tuple[int, Combination]]) -> list[SweepResult]:  # pragma: no cover
    assert _worker_job is not None
    candles, settings = _worker_job
    return [_backtest(candles, settings, index, combination) for index, combination in chunk]


def _backtest(
    candles: CandleArrays, settings: SweepSettings, index: int, combination: Combination
) -> SweepResult:
    try:
        try:
            result = _single(candles, settings, combination)
        except StrategyLimitExceeded as exc:
            if exc.limit != "time":
                raise
            # The limit is wall time, and a sweep keeps every core busy: a candle descheduled
            # past it is retried once before the combination counts as too slow.
            result = _single(candles, settings, combination)
    except (StrategyError, ValueError) as exc:
        return SweepResult(index, combination, None, str(exc), frozenset())
    return SweepResult(index, combination, result.metrics, None, result.run.params_read)


def _single(candles: CandleArrays, settings: SweepSettings, combination: Combination) -> BacktestResult:
    return run_backtest(
        settings.source,
        candles,
        params={**settings.params, **combination},
        cash=settings.cash,
        fee=settings.fee,
        fill=settings.fill,
        limits=settings.limits,
        name=settings.name,
        reuse_indicators=True,  # every run of this worker is over the same candles object
    )


def result_row(result: SweepResult) -> dict[str, Any]:
    """One combination as JSON: its parameters, then the metrics its backtest's --json reports
    (or the error)."""
    row: dict[str, Any] = {"params": dict(result.params)}
    if result.metrics is None:
        row["error"] = result.error
    else:
        values = asdict(result.metrics)
        row |= {key: values[key] for key in JSON_KEYS}
    return row
