"""`tradewinds backtest`: run a strategy over candles from a file or the database and report.

Components are imported in the functions that use them (see cli.py): this module's top level
only builds the parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_limit_options,
    exchange_id,
    fail,
    limits_from,
    market_symbol,
    parse_params,
    read_strategy,
)
from tradewinds.commands._sweep import add_sweep_options, plan_sweep, run_sweep_command
from tradewinds.domain.timeframes import Timeframe

if TYPE_CHECKING:
    from tradewinds.backtest.runner import BacktestResult
    from tradewinds.domain.candle_arrays import CandleArrays

FILL_CHOICES = ("close", "next-open")  # FillPrice's values (tested), without importing numpy here


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
        metavar="FILE",
        help="candles: a CSV file with header timestamp_ms,open,high,low,close,volume (ms epoch UTC "
        "or ISO-8601), or a .parquet file with those columns",
    )
    source.add_argument(
        "--exchange", help="read stored candles of this exchange (with --symbol and --timeframe)"
    )
    parser.add_argument("--symbol", help="with --exchange: the market, e.g. BTC/USD")
    parser.add_argument(
        "--timeframe",
        help="with --candles: roll the file's candles up to this timeframe (e.g. 1h); "
        "with --exchange: the stored series (rolled up from the finest stored timeframe that "
        "divides it if that one is not stored)",
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
        choices=FILL_CHOICES,
        default="close",
        help="fill at the deciding candle's close (default) or the next candle's open",
    )
    parser.add_argument("--param", action="append", metavar="NAME=VALUE", help="strategy parameter")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--trades", metavar="FILE.csv", help="write every fill to this CSV file")
    add_sweep_options(parser)
    add_limit_options(parser)
    parser.set_defaults(func=run)


def stored_candles(
    args: argparse.Namespace, timeframe: Timeframe | None
) -> tuple[CandleArrays, Timeframe | None]:
    """Candles of the stored series; a timeframe that is not stored is rolled up from the finest
    stored one that divides it.

    Returns the candles and the timeframe still to roll up to (None when already at it).
    """
    import asyncio

    from tradewinds.domain.candles import SeriesKey
    from tradewinds.domain.times import parse_time_arg
    from tradewinds.storage import sqlite_reads

    if not args.symbol or timeframe is None:
        raise CommandError("--exchange needs --symbol and --timeframe")
    key = SeriesKey(exchange_id(args.exchange), market_symbol(args.symbol), timeframe)
    try:
        since = parse_time_arg(args.since) if args.since else None
        until = parse_time_arg(args.until) if args.until else None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    # A SQLite file at the newest schema is read without SQLAlchemy (0.3 s of imports); any
    # other database, and every problem, takes the full path, which explains what is wrong.
    found = sqlite_reads.load_candle_arrays_to_roll_up(args.database, key, since, until)
    if found is None:
        from sqlalchemy.exc import SQLAlchemyError

        from tradewinds.storage.candles import load_candle_arrays_to_roll_up
        from tradewinds.storage.database import describe_database_error
        from tradewinds.storage.errors import StorageError

        try:
            found = asyncio.run(load_candle_arrays_to_roll_up(key, since, until, args.database))
        except (SQLAlchemyError, OSError) as exc:  # unreachable, no such database, refused login
            raise StorageError(describe_database_error(exc, args.database)) from None
    candles, stored = found
    return candles, (None if stored is timeframe else timeframe)


def run(args: argparse.Namespace) -> int:
    from tradewinds.backtest.portfolio import FillPrice
    from tradewinds.backtest.report import write_fills_csv
    from tradewinds.backtest.runner import run_backtest
    from tradewinds.domain.candle_checks import CandleFileError
    from tradewinds.domain.candle_files import read_candle_file
    from tradewinds.storage.errors import DatabaseUrlError, StorageError
    from tradewinds.strategy import StrategyError
    from tradewinds.strategy.param_names import UnknownParamError, check_param_names

    try:
        source = read_strategy(args.strategy)
        params = parse_params(args.param)
        limits = limits_from(args)
        timeframe = parse_timeframe(args.timeframe)
        plan = plan_sweep(args, params) if args.sweep else None
        if args.candles:
            candles = read_candle_file(args.candles)
        else:
            candles, timeframe = stored_candles(args, timeframe)
        if plan is not None:
            return run_sweep_command(args, source, params, plan, candles, timeframe, limits)
        result = run_backtest(
            source,
            candles,
            params=params,
            cash=args.cash,
            fee=args.fee,
            fill=FillPrice(args.fill),
            timeframe=timeframe,
            limits=limits,
            name=Path(args.strategy).name,
        )
        check_param_names(params, source, result.run.params_read, "--param")
        if args.trades:
            with open(args.trades, "w", encoding="utf-8") as out:
                write_fills_csv(result.account.table, out)
    except CommandError as exc:
        return fail(str(exc), exc.status)
    except (DatabaseUrlError, UnknownParamError) as exc:
        return fail(str(exc))
    except (CandleFileError, StorageError, ValueError) as exc:
        return fail(str(exc), EXIT_FAILED)
    except StrategyError as exc:
        return fail(f"{args.strategy}: {exc}", EXIT_FAILED)
    except OSError as exc:
        return fail(f"{exc.filename}: {exc.strerror}", EXIT_FAILED)
    print_report(args, result, timeframe)
    return EXIT_OK


def parse_timeframe(text: str | None) -> Timeframe | None:
    try:
        return Timeframe.parse(text) if text else None
    except ValueError as exc:
        raise CommandError(f"--timeframe: {exc}") from None


def print_report(args: argparse.Namespace, result: BacktestResult, timeframe: Timeframe | None) -> None:
    from tradewinds.backtest.report import log_lines, render_text, report_json
    from tradewinds.backtest.runner import candle_spacing_ms

    spacing = candle_spacing_ms(result.candles)
    label = timeframe.value if timeframe else _spacing_label(spacing)
    context: dict[str, Any] = {
        "strategy": args.strategy,
        "first_ms": int(result.candles.time[0]),
        "last_ms": int(result.candles.time[-1]),
        "candles": len(result.candles),
        "timeframe": label,
        "cash": args.cash,
        "fee": args.fee,
        "fill": args.fill,
    }
    run = result.run
    if args.json:
        extra: dict[str, Any] = {
            "partial_ms": result.partial_ms,
            "logs": run.logs,
            "logs_dropped": run.logs_dropped,
        }
        print(report_json(result.metrics, **context, **extra))
        return
    print(
        render_text(
            result.metrics, **context, warmup_message=run.warmup_message, partial_ms=result.partial_ms
        )
    )
    for line in log_lines(run.logs, run.logs_dropped):
        print(line)


def _spacing_label(spacing_ms: int) -> str:
    """The timeframe a file's candles are at, from their smallest gap (`1m`; `7m apart` if none)."""
    if not spacing_ms:
        return "1 candle"
    known = next((tf.value for tf in Timeframe if tf.ms == spacing_ms), None)
    return known or f"{spacing_ms // 60000}m apart"
