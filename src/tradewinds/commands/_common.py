"""Helpers shared by subcommands: reading strategy files, parameters, user-facing failures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewinds.strategy.limits import Limits

if TYPE_CHECKING:
    from tradewinds.strategy.runtime import ParamValue

# Exit statuses, the same for every command (documented in `tradewinds --help` and the README).
EXIT_OK = 0
EXIT_FAILED = 1  # what the command was given or reached is wrong: a strategy, candles, a database
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 too)
EXIT_INTERRUPTED = 130  # what shells report for a command ended by Ctrl-C


class CommandError(Exception):
    """A user mistake: printed as one line on stderr; exit status `status` (default EXIT_USAGE)."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def read_strategy(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such strategy file", EXIT_FAILED) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not a UTF-8 text file", EXIT_FAILED) from None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}", EXIT_FAILED) from None


def exchange_id(text: str, option: str = "--exchange") -> str:
    """An exchange id as typed, the way exchanges (and ccxt) spell it: lower case."""
    name = text.strip().lower()
    if not name:
        raise CommandError(f"{option} is empty; give an exchange id such as bitfinex")
    return name


def market_symbol(text: str, option: str = "--symbol") -> str:
    """A market as typed, the way exchanges (and ccxt) spell unified symbols: BASE/QUOTE in upper
    case, so `btc/usd` and `BTC/USD` are one series."""
    symbol = text.strip().upper()
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or " " in symbol:
        raise CommandError(f"{option} {text!r}: expected BASE/QUOTE, e.g. BTC/USD")
    return symbol


def parse_params(items: list[str] | None) -> dict[str, ParamValue]:
    """`name=value` pairs; numbers become numbers, true/false booleans, the rest strings."""
    params: dict[str, ParamValue] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--param {item!r}: expected name=value")
        value: ParamValue = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            try:
                number = float(text)
                value = int(number) if number.is_integer() and "." not in text else number
            except ValueError:
                value = text
        params[name.strip()] = value
    return params


def fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def add_limit_options(parser: Any) -> None:
    defaults = Limits()
    parser.add_argument(
        "--time-limit",
        type=float,
        default=defaults.time_ms,
        metavar="MS",
        help=f"time a strategy may take per candle (default {defaults.time_ms:g} ms)",
    )
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=defaults.memory_mb,
        metavar="MIB",
        help=f"memory a strategy may use per candle (default {defaults.memory_mb:g} MiB)",
    )


def limits_from(args: Any) -> Limits:
    try:
        return Limits(time_ms=args.time_limit, memory_mb=args.memory_limit)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
