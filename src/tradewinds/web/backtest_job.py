"""One backtest from the web, run in a child process (so it can be cancelled by ending it): the
same engine as `tradewinds backtest`, its result shaped for the browser.

The child reports its stage as progress (loading, running, measuring) over a pipe and sends the
result, or the error in the user's words, last.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays

MAX_CHART_CANDLES = 10_000  # the chart shows at most this many; the backtest uses them all
MAX_CURVE_POINTS = 2_000


@dataclass(frozen=True)
class BacktestJob:
    """Everything the child needs; plain values, so it pickles for a spawned process."""

    backtest_id: int
    source: str
    strategy_name: str
    database_url: str
    exchange: str | None
    symbol: str | None
    upload_path: str | None
    timeframe: str
    since_ms: int | None
    until_ms: int | None
    cash: float
    fee: float
    params: dict[str, Any]


def _downsample(times: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    n = len(times)
    if n == 0:
        return []
    step = max(1, -(-n // MAX_CURVE_POINTS))
    idx = np.r_[np.arange(0, n, step), n - 1] if (n - 1) % step else np.arange(0, n, step)
    return [(int(times[i]), round(float(values[i]), 6)) for i in np.unique(idx)]


async def _stored(job: BacktestJob) -> CandleArrays:
    from tradewinds.domain.candles import SeriesKey
    from tradewinds.domain.timeframes import Timeframe
    from tradewinds.storage.candles import load_candle_arrays
    from tradewinds.storage.errors import NoCandlesError

    wanted = Timeframe(job.timeframe)
    assert job.exchange and job.symbol
    # The finest stored timeframe that divides the one asked, so 15m is made from 5m or 1m.
    last_error: NoCandlesError | None = None
    for frame in [tf for tf in Timeframe if wanted.ms % tf.ms == 0 and tf.ms <= wanted.ms][::-1]:
        try:
            return await load_candle_arrays(
                SeriesKey(job.exchange, job.symbol, frame), job.since_ms, job.until_ms, job.database_url
            )
        except NoCandlesError as exc:
            last_error = last_error or exc
    assert last_error is not None
    raise last_error


def _candles(job: BacktestJob) -> CandleArrays:
    if job.upload_path:
        from tradewinds.domain.candle_csv import read_candle_csv

        path = Path(job.upload_path)
        return read_candle_csv(path, path.name.split("-", 2)[-1])
    return asyncio.run(_stored(job))


def run_job(job: BacktestJob, progress: Connection) -> None:  # pragma: no cover - runs in a child
    """The child's body: always ends by sending ("done", result_json) or ("failed", message)."""
    try:
        from tradewinds.backtest.runner import run_backtest
        from tradewinds.domain.timeframes import Timeframe

        progress.send(("progress", 0.05))
        candles = _candles(job)
        progress.send(("progress", 0.2))
        result = run_backtest(
            job.source,
            candles,
            on_progress=lambda done: progress.send(("progress", 0.2 + 0.7 * done)),
            params=job.params,
            cash=job.cash,
            fee=job.fee,
            timeframe=Timeframe(job.timeframe),
            name=job.strategy_name,
        )
        progress.send(("progress", 0.9))
        progress.send(("done", json.dumps(shape_result(result, job.cash))))
    except Exception as exc:
        progress.send(("failed", _message(exc)))


def _message(exc: Exception) -> str:
    from tradewinds.strategy import StrategyError

    if isinstance(exc, StrategyError):
        return f"line {exc.line}: {exc.message}" if exc.line else exc.message
    return str(exc) or type(exc).__name__


def shape_result(result: Any, cash: float) -> dict[str, Any]:
    """Metrics, trades, the equity curve against buy-and-hold, candles for the chart."""
    from dataclasses import asdict

    from tradewinds.backtest.report import JSON_KEYS, iso

    candles = result.candles
    metrics = asdict(result.metrics)
    closes = candles.close
    buy_hold = cash * closes / closes[0] if len(closes) else closes
    shown = slice(max(0, len(candles) - MAX_CHART_CANDLES), len(candles))
    chart = [
        (int(t), float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(
            candles.time[shown],
            candles.open[shown],
            candles.high[shown],
            candles.low[shown],
            candles.close[shown],
            candles.volume[shown],
            strict=True,
        )
    ]
    notes = []
    if result.run.warmup_message:
        why = result.run.warmup_message.removeprefix("warming up: ")
        notes.append(f"{result.run.warmup_candles} candles warming up ({why})")
    if len(candles) > MAX_CHART_CANDLES:
        notes.append(f"the chart shows the last {MAX_CHART_CANDLES:,} of {len(candles):,} candles")
    logs = [f"{iso(line.candle_time_ms)}  {line.text}" for line in result.run.logs][:200]
    return {
        "metrics": {key: metrics[key] for key in JSON_KEYS},
        "trades": [
            {"time_ms": f.time_ms, "side": f.side, "price": f.price, "units": f.units, "fee": f.fee}
            for f in result.account.fills
        ],
        "equity": _downsample(candles.time, result.account.equity),
        "buy_hold": _downsample(candles.time, buy_hold),
        "candles": chart,
        "notes": notes,
        "logs": logs,
    }
