"""The `tradewinds` command. Each subcommand lives in `tradewinds.commands.<name>`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines `register(subparsers)`, which adds its parser and sets `func`
# (a callable taking the parsed namespace and returning the exit status).
COMMAND_MODULES: tuple[str, ...] = (
    "backtest",
    "check",
    "core",
    "data",
    "db",
    "eval",
    "exchange",
    "status",
    "up",
    "watch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradewinds",
        description="Tradewinds: algorithmic crypto trading with sandboxed Lua strategies.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tradewinds.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
