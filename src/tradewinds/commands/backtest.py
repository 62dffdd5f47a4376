"""`tradewinds backtest`: run a strategy over candles from a CSV file and report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tradewinds.backtest.portfolio import FillPrice
from tradewinds.backtest.report import metrics_json, render_text, write_fills_csv
from tradewinds.backtest.runner import candle_spacing_ms, run_backtest
from tradewinds.commands._common import (
    CommandError,
    add_limit_options,
    fail,
    limits_from,
    parse_params,
    read_strategy,
)
from tradewinds.domain.candle_csv import CandleCsvError, read_candle_csv
from tradewinds.domain.timeframes import Timeframe
from tradewinds.strategy import StrategyError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="run a strategy over historical candles",
        description="Run a Lua strategy over candles and report how its decisions would have traded.",
    )
    parser.add_argument("strategy", help="the strategy's Lua file")
    parser.add_argument(
        "--candles",
        required=True,
        metavar="FILE.csv",
        help="candles: header timestamp_ms,open,high,low,close,volume (ms epoch UTC or ISO-8601)",
    )
    parser.add_argument("--timeframe", help="roll the file's candles up to this timeframe (e.g. 1h)")
    parser.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default 10000)")
    parser.add_argument(
        "--fee", type=float, default=0.001, help="fee per trade as a fraction (default 0.001)"
    )
    parser.add_argument(
        "--fill",
        choices=[f.value for f in FillPrice],
        default="close",
        help="fill at the deciding candle's close (default) or the next candle's open",
    )
    parser.add_argument("--param", action="append", metavar="NAME=VALUE", help="strategy parameter")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--trades", metavar="FILE.csv", help="write every fill to this CSV file")
    add_limit_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        source = read_strategy(args.strategy)
        params = parse_params(args.param)
        timeframe = Timeframe.parse(args.timeframe) if args.timeframe else None
        candles = read_candle_csv(args.candles)
        result = run_backtest(
            source,
            candles,
            params=params,
            cash=args.cash,
            fee=args.fee,
            fill=FillPrice(args.fill),
            timeframe=timeframe,
            limits=limits_from(args),
            name=Path(args.strategy).name,
        )
        if args.trades:
            with open(args.trades, "w", encoding="utf-8") as out:
                write_fills_csv(result.account.table, out)
    except (CommandError, CandleCsvError, ValueError) as exc:
        return fail(str(exc))
    except StrategyError as exc:
        return fail(f"{args.strategy}: {exc}")
    except OSError as exc:
        return fail(f"{exc.filename}: {exc.strerror}")
    if args.json:
        print(metrics_json(result.metrics))
    else:
        spacing = candle_spacing_ms(result.candles)
        label = timeframe.value if timeframe else (f"{spacing // 60000}m apart" if spacing else "1 candle")
        print(
            render_text(
                result.metrics,
                strategy=args.strategy,
                first_ms=int(result.candles.time[0]),
                last_ms=int(result.candles.time[-1]),
                candles=len(result.candles),
                timeframe=label,
                cash=args.cash,
                fee=args.fee,
                fill=args.fill,
                warmup_message=result.run.warmup_message,
            )
        )
        for line in result.run.logs[:20]:
            print(f"log {line.candle_time_ms}: {line.text}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
