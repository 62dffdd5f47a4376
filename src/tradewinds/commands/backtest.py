"""`tradewinds backtest`: run a strategy over candles from a CSV file and report."""

from __future__ import annotations

import argparse
import asyncio
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
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import CandleCsvError, read_candle_csv
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import parse_time_arg
from tradewinds.storage.candles import load_candle_arrays
from tradewinds.storage.errors import NoCandlesError, StorageError
from tradewinds.strategy import StrategyError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="run a strategy over historical candles",
        description="Run a Lua strategy over candles and report how its decisions would have traded.",
    )
    parser.add_argument("strategy", help="the strategy's Lua file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--candles",
        metavar="FILE.csv",
        help="candles: header timestamp_ms,open,high,low,close,volume (ms epoch UTC or ISO-8601)",
    )
    source.add_argument(
        "--exchange", help="read stored candles of this exchange (with --symbol and --timeframe)"
    )
    parser.add_argument("--symbol", help="with --exchange: the market, e.g. BTC/USD")
    parser.add_argument(
        "--timeframe",
        help="with --candles: roll the file's candles up to this timeframe (e.g. 1h); "
        "with --exchange: the stored series (rolled up from 1m if only that is stored)",
    )
    parser.add_argument("--since", help="with --exchange: first candle (2024-01-01, ISO time or ms)")
    parser.add_argument("--until", help="with --exchange: last candle (inclusive)")
    parser.add_argument("--database", metavar="URL", help="with --exchange: database URL")
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


def stored_candles(
    args: argparse.Namespace, timeframe: Timeframe | None
) -> tuple[CandleArrays, Timeframe | None]:
    """Candles of the stored series; a timeframe that is not stored is rolled up from 1m.

    Returns the candles and the timeframe still to roll up to (None when already at it).
    """
    if not args.symbol or timeframe is None:
        raise CommandError("--exchange needs --symbol and --timeframe")
    since = parse_time_arg(args.since) if args.since else None
    until = parse_time_arg(args.until) if args.until else None
    key = SeriesKey(args.exchange.lower(), args.symbol, timeframe)
    try:
        return asyncio.run(load_candle_arrays(key, since, until, args.database)), None
    except NoCandlesError:
        if timeframe is Timeframe.M1:
            raise
        minutes = SeriesKey(key.exchange, key.symbol, Timeframe.M1)
        try:
            return asyncio.run(load_candle_arrays(minutes, since, until, args.database)), timeframe
        except NoCandlesError:
            pass
        raise


def run(args: argparse.Namespace) -> int:
    try:
        source = read_strategy(args.strategy)
        params = parse_params(args.param)
        timeframe = Timeframe.parse(args.timeframe) if args.timeframe else None
        if args.candles:
            candles = read_candle_csv(args.candles)
        else:
            candles, timeframe = stored_candles(args, timeframe)
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
    except (CommandError, CandleCsvError, StorageError, ValueError) as exc:
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
