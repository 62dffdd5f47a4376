"""`tradewinds data`: move candles between files (CSV, Parquet) and the database.

Components are imported in the functions that use them (see cli.py). Each subcommand is
registered on the `data` parser: `import` and `export` here, and every module
named in DATA_SUBCOMMANDS (a module under `tradewinds.commands` exposing `register(data_subparsers)`).
The option helpers below keep `--exchange/--symbol/--timeframe/--since/--until` the same everywhere.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    exchange_id,
    fail,
    market_symbol,
)
from tradewinds.commands.db import add_database_option, run_with_database
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms, parse_time_arg

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.domain.candle_arrays import CandleArrays
    from tradewinds.domain.candles import SeriesKey

# More `tradewinds data` subcommands: module names under tradewinds.commands.
DATA_SUBCOMMANDS: tuple[str, ...] = ("download",)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "data",
        help="import and export stored candles",
        description="Move candles between files (CSV with header timestamp_ms,open,high,low,close,"
        "volume, or Parquet with those columns) and the database.",
    )
    data_subparsers = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    register_import(data_subparsers)
    register_export(data_subparsers)
    for name in DATA_SUBCOMMANDS:
        importlib.import_module(f"tradewinds.commands.{name}").register(data_subparsers)


def add_series_options(parser: Any) -> None:
    parser.add_argument("--exchange", required=True, help="exchange id, e.g. bitfinex (any case)")
    parser.add_argument("--symbol", required=True, help="market as BASE/QUOTE, e.g. BTC/USD (any case)")
    parser.add_argument("--timeframe", required=True, help="candle timeframe, e.g. 1m, 1h, 1d")


def series_key_from(args: argparse.Namespace) -> SeriesKey:
    """The series named by `--exchange --symbol --timeframe`, spelled as exchanges spell them
    (`Test` `btc/usd` is test BTC/USD); CommandError says what is wrong."""
    from tradewinds.domain.candles import SeriesKey

    exchange, symbol = exchange_id(args.exchange), market_symbol(args.symbol)
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
        help="store candles from a CSV or Parquet file",
        description="Store a file's candles: CSV (header timestamp_ms,open,high,low,close,volume) or "
        "Parquet (.parquet, those columns). "
        "Candles already stored with the same open time are overwritten; a file with any bad line "
        "is rejected whole.",
    )
    parser.add_argument("file", metavar="FILE", help="the candle file (.csv, or .parquet)")
    add_series_options(parser)
    add_database_option(parser)
    parser.set_defaults(func=run_import)


def register_export(data_subparsers: Any) -> None:
    parser = data_subparsers.add_parser(
        "export",
        help="write stored candles as CSV or Parquet",
        description="Write a stored series' candles as CSV (timestamp_ms,open,high,low,close,volume) "
        "or Parquet (the same columns).",
    )
    add_series_options(parser)
    add_time_range_options(parser)
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of to stdout")
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        help="file format (default: parquet for an --output ending .parquet or .pq, else csv); "
        "parquet needs --output",
    )
    add_database_option(parser)
    parser.set_defaults(func=run_export)


def run_import(args: argparse.Namespace) -> int:
    from tradewinds.domain.candle_checks import CandleFileError
    from tradewinds.domain.candle_files import read_candle_file
    from tradewinds.storage.candles import CandleStore
    from tradewinds.storage.schema import check_current

    try:
        key = series_key_from(args)
        candles = read_candle_file(args.file)
        check_aligned(candles, key.timeframe, args.file)
    except CommandError as exc:
        return fail(str(exc), exc.status)
    except CandleFileError as exc:
        return fail(str(exc), EXIT_FAILED)

    async def store_candles(engine: AsyncEngine, shown: str) -> int:
        await check_current(engine, f"database {shown}")
        changed = await CandleStore(engine).upsert_arrays(key, candles)
        first, last = format_time_ms(int(candles.time[0])), format_time_ms(int(candles.time[-1]))
        print(
            f"stored {len(candles)} candles for {key} from {args.file} ({first} to {last}); "
            f"{changed} new or changed"
        )
        return EXIT_OK

    return run_with_database(args, store_candles)


def run_export(args: argparse.Namespace) -> int:
    from tradewinds.storage.candles import CandleStore, describe_range
    from tradewinds.storage.schema import check_current

    try:
        key = series_key_from(args)
        since, until = time_range_from(args)
        file_format = export_format(args.format, args.output)
    except CommandError as exc:
        return fail(str(exc), exc.status)

    found: list[CandleArrays] = []

    async def fetch_candles(engine: AsyncEngine, shown: str) -> int:
        await check_current(engine, f"database {shown}")
        found.append(await CandleStore(engine).range_arrays(key, since, until))
        if not len(found[0]):
            message = f"no candles stored for {key} {describe_range(since, until)} in {shown}"
            return fail(message, EXIT_FAILED)
        return EXIT_OK

    status = run_with_database(args, fetch_candles)
    if status != EXIT_OK:
        return status
    try:
        written = write_candles(found[0], file_format, args.output)
    except OSError as exc:
        return fail(f"{args.output}: {exc.strerror or exc}", EXIT_FAILED)
    if args.output is not None:
        print(f"wrote {written} candles for {key} to {args.output}")
    return EXIT_OK


def export_format(chosen: str | None, output: str | None) -> str:
    """csv or parquet: as chosen, else by the output file's name; parquet is never written to a terminal."""
    from tradewinds.domain.candle_files import is_parquet

    file_format = chosen or ("parquet" if output and is_parquet(output) else "csv")
    if file_format == "parquet" and output is None:
        raise CommandError("--format parquet needs --output FILE.parquet")
    return file_format


def write_candles(candles: CandleArrays, file_format: str, output: str | None) -> int:
    from tradewinds.domain.candle_csv import write_candle_csv
    from tradewinds.domain.candle_parquet import write_candle_parquet

    if file_format == "parquet":
        assert output is not None  # export_format refuses parquet to stdout
        return write_candle_parquet(candles, output)
    if output is None:
        return write_candle_csv(candles.to_candles(), sys.stdout)
    with open(output, "w", encoding="utf-8") as out:
        return write_candle_csv(candles.to_candles(), out)


def check_aligned(candles: CandleArrays, timeframe: Timeframe, label: str) -> None:
    """Refuse candles whose open time is not on the timeframe's boundary: a wrong --timeframe."""
    import numpy as np

    misaligned = np.flatnonzero(candles.time % timeframe.ms)
    if len(misaligned):
        index = int(misaligned[0])
        time_ms = int(candles.time[index])
        raise CommandError(
            f"{label}: candle {index + 1} opens at {format_time_ms(time_ms)} ({time_ms}), which does "
            f"not start a {timeframe.value} candle; is --timeframe right?",
            EXIT_FAILED,
        )
