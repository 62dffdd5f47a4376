"""`tradewinds up`: run what the platform has so far on embedded defaults.

The live platform (exchange adapters, core, evaluation workers, web UI) is not built yet; until
then `up` demonstrates the engine: it backtests the bundled example strategies on the bundled
real Bitfinex candles and prints the reports.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from tradewinds.backtest.report import render_text
from tradewinds.backtest.runner import run_backtest
from tradewinds.domain.candle_csv import parse_candle_csv

DEMOS = (
    (
        "SMA(10) vs EMA(10), the founding example",
        """
        local sma = ta.sma(10)
        local ema = ta.ema(10)
        if sma() > ema() then return "short" else return "long" end
        """,
    ),
    (
        "MACD crossover with an RSI filter",
        """
        local line, signal = ta.macd(12, 26, 9)
        local rsi = ta.rsi(14)
        if crossover(line, signal) and rsi() < 70 then return "long" end
        if crossunder(line, signal) or rsi() > 80 then return "short" end
        """,
    ),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the platform on embedded defaults (for now: the backtest demo)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--candles", help="a candle CSV to use instead of the bundled sample")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.candles:
        text, label = Path(args.candles).read_text("utf-8"), args.candles
    else:
        label = "bundled Bitfinex BTC/USD 1h candles, October 2013"
        text = resources.files("tradewinds.strategy").joinpath("sample_candles.csv").read_text("utf-8")
    candles = parse_candle_csv(text, label)
    print("Tradewinds: the live platform is not built yet; backtesting the example strategies.")
    print(f"Candles: {label}\n")
    for title, source in DEMOS:
        result = run_backtest(source, candles)
        print(
            render_text(
                result.metrics,
                strategy=title,
                first_ms=int(candles.time[0]),
                last_ms=int(candles.time[-1]),
                candles=len(candles),
                timeframe="1h",
                cash=10_000.0,
                fee=0.001,
                fill="close",
                warmup_message=result.run.warmup_message,
            )
        )
        print()
    return 0
