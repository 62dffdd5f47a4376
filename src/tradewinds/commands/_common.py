"""Helpers shared by subcommands: reading strategy files, parameters, user-facing failures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tradewinds.strategy.limits import Limits
from tradewinds.strategy.runtime import ParamValue


class CommandError(Exception):
    """A user mistake: printed as one line on stderr, exit status 2."""


def read_strategy(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such strategy file") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None


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


def fail(message: str, status: int = 2) -> int:
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
