"""How a backtest is shown: a text summary, one JSON object, and a CSV of fills."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from tradewinds.backtest.metrics import Metrics
from tradewinds.backtest.portfolio import FillTable

if TYPE_CHECKING:
    from tradewinds.strategy.history import LogLine

JSON_KEYS = (
    "final_equity",
    "total_return",
    "buy_hold_return",
    "trades",
    "win_rate",
    "max_drawdown",
    "sharpe",
    "exposure",
    "warmup_candles",
)


def metrics_json(metrics: Metrics) -> str:
    values = asdict(metrics)
    return json.dumps({key: values[key] for key in JSON_KEYS})


def report_json(
    metrics: Metrics,
    *,
    strategy: str,
    first_ms: int,
    last_ms: int,
    candles: int,
    timeframe: str,
    cash: float,
    fee: float,
    fill: str,
    partial_ms: Sequence[int] = (),
    logs: Sequence[LogLine] = (),
    logs_dropped: bool = False,
) -> str:
    """The whole report as one JSON object: what was run (the text report's header), then the
    metrics of `metrics_json`, so a saved report says what it measured."""
    values = asdict(metrics)
    run = {
        "strategy": strategy,
        "first_candle": iso(first_ms),
        "last_candle": iso(last_ms),
        "candles": candles,
        "timeframe": timeframe,
        "cash": cash,
        "fee": fee,
        "fill": fill,
        "partial_candles_left_out": [iso(t) for t in partial_ms],
    }
    logged: dict[str, Any] = {
        "logs": [{"time": iso(line.candle_time_ms), "text": line.text} for line in logs],
        "logs_dropped": logs_dropped,
    }
    return json.dumps(run | {key: values[key] for key in JSON_KEYS} | logged)


def iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_text(
    metrics: Metrics,
    *,
    strategy: str,
    first_ms: int,
    last_ms: int,
    candles: int,
    timeframe: str,
    cash: float,
    fee: float,
    fill: str,
    warmup_message: str | None,
    partial_ms: Sequence[int] = (),
) -> str:
    rows = [
        ("Strategy", strategy),
        ("Period", f"{iso(first_ms)} .. {iso(last_ms)}"),
        ("Candles", f"{candles:,} ({timeframe})"),
        ("Fee / fill", f"{fee:.4%} at {fill}"),
        ("Starting cash", f"{cash:,.2f}"),
        ("Final equity", f"{metrics.final_equity:,.2f}"),
        ("Total return", f"{metrics.total_return:+.2%}"),
        ("Buy and hold", f"{metrics.buy_hold_return:+.2%}"),
        ("Trades (fills)", f"{metrics.trades}"),
        ("Win rate", f"{metrics.win_rate:.2%}"),
        ("Max drawdown", f"{metrics.max_drawdown:.2%}"),
        ("Sharpe (annual)", f"{metrics.sharpe:.2f}"),
        ("Exposure", f"{metrics.exposure:.2%}"),
        (
            "Warm-up candles",
            f"{metrics.warmup_candles}" + (f" ({warmup_message})" if warmup_message else ""),
        ),
    ]
    if partial_ms:
        # Like warm-up, a reason the report covers less than the data: the live core would
        # never have closed these buckets.
        shown = " and ".join(iso(t) for t in partial_ms)
        rows.append(("Left out", f"partial {timeframe} candle at {shown} (period not in the data)"))
    width = max(len(label) for label, _ in rows)
    rule = "-" * (width + 2 + max(len(value) for _, value in rows))
    lines = ["BACKTEST", rule]
    lines += [f"{label:<{width}}  {value}" for label, value in rows]
    lines.append(rule)
    return "\n".join(lines)


def log_lines(logs: Sequence[LogLine], dropped: bool) -> list[str]:
    """The strategy's log lines as the text report shows them, with a note if some were dropped."""
    lines = [f"log {iso(line.candle_time_ms)}: {line.text}" for line in logs]
    if dropped:
        lines.append(f"(more log lines were dropped: a backtest keeps the first {len(logs)})")
    return lines


def write_fills_csv(fills: FillTable, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("time", "side", "price", "units", "fee", "cash_after", "units_after"))
    for f in fills.rows():
        writer.writerow(
            (
                iso(f.time_ms),
                f.side,
                repr(f.price),
                repr(f.units),
                repr(f.fee),
                repr(f.cash_after),
                repr(f.units_after),
            )
        )
