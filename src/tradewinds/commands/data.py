"""`tradewinds data`: move candles between CSV files and the database.

Each subcommand is registered on the `data` parser: `import` and `export` here, and every module
named in DATA_SUBCOMMANDS (a module under `tradewinds.commands` exposing `register(data_subparsers)`).
The option helpers below keep `--exchange/--symbol/--timeframe/--since/--until` the same everywhere.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.commands._common import CommandError, fail
from tradewinds.commands.db import add_database_option, run_with_database
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import CandleCsvError, read_candle_csv, write_candle_csv
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms, parse_time_arg
from tradewinds.storage.candles import CandleStore, describe_range
from tradewinds.storage.schema import check_current

# More `tradewinds data` subcommands: module names under tradewinds.commands.
DATA_SUBCOMMANDS: tuple[str, ...] = ("download",)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "data",
        help="import and export stored candles",
        description="Move candles between CSV files (timestamp_ms,open,high,low,close,volume) "
        "and the database.",
    )
    data_subparsers = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    register_import(data_subparsers)
    register_export(data_subparsers)
    for name in DATA_SUBCOMMANDS:
        importlib.import_module(f"tradewinds.commands.{name}").register(data_subparsers)


def add_series_options(parser: Any) -> None:
    parser.add_argument("--exchange", required=True, help="exchange id, e.g. bitfinex")
    parser.add_argument("--symbol", required=True, help="market as BASE/QUOTE, e.g. BTC/USD")
    parser.add_argument("--timeframe", required=True, help="candle timeframe, e.g. 1m, 1h, 1d")


def series_key_from(args: argparse.Namespace) -> SeriesKey:
    """The series named by `--exchange --symbol --timeframe`; CommandError says what is wrong."""
    exchange = args.exchange.strip().lower()  # ccxt exchange ids are lowercase
    symbol = args.symbol.strip()
    if not exchange:
        raise CommandError("--exchange is empty; give an exchange id such as bitfinex")
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or " " in symbol:
        raise CommandError(f"--symbol {args.symbol!r}: expected BASE/QUOTE, e.g. BTC/USD")
    try:
        timeframe = Timeframe.parse(args.timeframe)
    except ValueError as exc:
        raise CommandError(f"--timeframe: {exc}") from None
    return SeriesKey(exchange, symbol, timeframe)


def add_time_range_options(parser: Any) -> None:
    forms = "a date (2024-01-01), an ISO time (2024-01-01T12:00:00Z) or epoch ms"
    parser.add_argument("--since", metavar="TIME", help=f"first candle open time, inclusive: {forms}")
    parser.add_argument("--until", metavar="TIME", help=f"last candle open time, inclusive: {forms}")


def time_range_from(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """`--since`/`--until` as epoch ms (None when absent); CommandError names the bad option."""
    bounds: list[int | None] = []
    for option in ("since", "until"):
        text = getattr(args, option)
        try:
            bounds.append(None if text is None else parse_time_arg(text))
        except ValueError as exc:
            raise CommandError(f"--{option}: {exc}") from None
    since, until = bounds
    if since is not None and until is not None and since > until:
        raise CommandError(f"--since {args.since} is after --until {args.until}")
    return since, until


def register_import(data_subparsers: Any) -> None:
    parser = data_subparsers.add_parser(
        "import",
        help="store candles from a CSV file",
        description="Store a CSV file's candles (header timestamp_ms,open,high,low,close,volume). "
        "Candles already stored with the same open time are overwritten; a file with any bad line "
        "is rejected whole.",
    )
    parser.add_argument("file", metavar="FILE.csv", help="the candle CSV file")
    add_series_options(parser)
    add_database_option(parser)
    parser.set_defaults(func=run_import)


def register_export(data_subparsers: Any) -> None:
    parser = data_subparsers.add_parser(
        "export",
        help="write stored candles as CSV",
        description="Write a stored series' candles as CSV (timestamp_ms,open,high,low,close,volume).",
    )
    add_series_options(parser)
    add_time_range_options(parser)
    parser.add_argument("--output", "-o", metavar="FILE.csv", help="write here instead of to stdout")
    add_database_option(parser)
    parser.set_defaults(func=run_export)


def run_import(args: argparse.Namespace) -> int:
    try:
        key = series_key_from(args)
        candles = read_candle_csv(args.file)
        check_aligned(candles, key.timeframe, args.file)
    except (CommandError, CandleCsvError) as exc:
        return fail(str(exc))

    async def store_candles(engine: AsyncEngine, shown: str) -> int:
        await check_current(engine, f"database {shown}")
        changed = await CandleStore(engine).upsert_arrays(key, candles)
        first, last = format_time_ms(int(candles.time[0])), format_time_ms(int(candles.time[-1]))
        print(
            f"stored {len(candles)} candles for {key} from {args.file} ({first} to {last}); "
            f"{changed} new or changed"
        )
        return 0

    return run_with_database(args, store_candles)


def run_export(args: argparse.Namespace) -> int:
    try:
        key = series_key_from(args)
        since, until = time_range_from(args)
    except CommandError as exc:
        return fail(str(exc))

    found: list[Candle] = []

    async def fetch_candles(engine: AsyncEngine, shown: str) -> int:
        await check_current(engine, f"database {shown}")
        found.extend(await CandleStore(engine).range(key, since, until))
        if not found:
            return fail(f"no candles stored for {key} {describe_range(since, until)} in {shown}", status=1)
        return 0

    status = run_with_database(args, fetch_candles)
    if status != 0:
        return status
    if args.output is None:
        write_candle_csv(found, sys.stdout)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            written = write_candle_csv(found, out)
    except OSError as exc:
        return fail(f"{args.output}: {exc.strerror}")
    print(f"wrote {written} candles for {key} to {args.output}")
    return 0


def check_aligned(candles: CandleArrays, timeframe: Timeframe, label: str) -> None:
    """Refuse candles whose open time is not on the timeframe's boundary: a wrong --timeframe."""
    misaligned = np.flatnonzero(candles.time % timeframe.ms)
    if len(misaligned):
        index = int(misaligned[0])
        time_ms = int(candles.time[index])
        raise CommandError(
            f"{label}: candle {index + 1} opens at {format_time_ms(time_ms)} ({time_ms}), which does "
            f"not start a {timeframe.value} candle; is --timeframe right?"
        )
