"""`tradewinds check`: validate a strategy and dry-run it on bundled sample candles."""

from __future__ import annotations

import argparse
from importlib import resources
from typing import Any

from tradewinds.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_limit_options,
    fail,
    limits_from,
    parse_params,
    read_strategy,
)

SAMPLE = "sample_candles.csv"  # 733 real hourly Bitfinex BTC/USD candles, October 2013


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate a strategy (syntax, sandbox, a dry run)",
        description="Check a Lua strategy: compile it in the sandbox, then run it on sample candles.",
    )
    parser.add_argument("strategy", help="the strategy's Lua file")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE", help="strategy parameter")
    add_limit_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np  # here, not at the top: building the parser must stay light (cli.py)

    from tradewinds.domain.candle_csv import parse_candle_csv
    from tradewinds.strategy import StrategyError, check_strategy, run_over_history
    from tradewinds.strategy.lint import undefined_globals

    try:
        source = read_strategy(args.strategy)
        params = parse_params(args.param)
        check_strategy(source)
        for problem in undefined_globals(source):
            print(f"warning: {args.strategy}: {problem.message}")
        text = resources.files("tradewinds.strategy").joinpath(SAMPLE).read_text("utf-8")
        candles = parse_candle_csv(text, SAMPLE)
        result = run_over_history(source, candles, params, limits_from(args))
    except CommandError as exc:
        return fail(str(exc), exc.status)
    except StrategyError as exc:
        return fail(f"{args.strategy}: {exc}", EXIT_FAILED)
    counts = {value: int(np.sum(result.decisions == value)) for value in (1, -1, 0)}
    print(
        f"ok: {args.strategy} ran on {len(candles)} sample candles: "
        f"{counts[1]} long, {counts[-1]} short, {counts[0]} keep"
        f" ({result.warmup_candles} warming up)"
    )
    if result.warmup_message:
        print(f"  last warm-up: {result.warmup_message}")
    return EXIT_OK
