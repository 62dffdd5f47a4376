"""`tradewinds backtest --sweep NAME=START:STOP:STEP ...`: every combination, ranked.

The options live in commands/backtest.py; this is what runs once the candles are loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tradewinds.commands._common import EXIT_FAILED, EXIT_OK, CommandError

if TYPE_CHECKING:
    from tradewinds.backtest.sweep import Combination, SweepResult
    from tradewinds.domain.candle_arrays import CandleArrays
    from tradewinds.domain.timeframes import Timeframe
    from tradewinds.strategy.limits import Limits
    from tradewinds.strategy.runtime import ParamValue

# backtest.sweep.RANKINGS, listed here so building the parser imports nothing heavy (tested).
RANK_CHOICES = ("sharpe", "total_return", "final_equity", "win_rate", "exposure", "trades", "max_drawdown")


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sweep",
        action="append",
        metavar="NAME=START:STOP:STEP",
        help="run every combination of these param() values (both ends included; or NAME=V1,V2,...)",
    )
    parser.add_argument(
        "--rank", choices=RANK_CHOICES, default="sharpe", help="with --sweep: order by (default sharpe)"
    )
    parser.add_argument("--top", type=int, default=10, help="with --sweep: rows shown (default 10)")
    parser.add_argument("--jobs", type=int, help="with --sweep: worker processes (default: every core)")


def plan_sweep(args: argparse.Namespace, params: dict[str, ParamValue]) -> list[Combination]:
    """The combinations to run, or CommandError for a sweep the command line gets wrong."""
    from tradewinds.backtest.sweep import SweepError, combinations, parse_axis

    try:
        axes = [parse_axis(text) for text in args.sweep]
        plan = combinations(axes)
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    fixed = sorted(set(params) & {axis.name for axis in axes})
    if fixed:
        raise CommandError(f"--sweep {', '.join(fixed)}: also given with --param; give it once")
    if args.jobs is not None and args.jobs < 1:
        raise CommandError(f"--jobs {args.jobs}: must be at least 1")
    if args.top < 1:
        raise CommandError(f"--top {args.top}: must be at least 1")
    if args.trades:
        raise CommandError("--trades writes one backtest's fills: not with --sweep")
    return plan


def run_sweep_command(
    args: argparse.Namespace,
    source: str,
    params: dict[str, ParamValue],
    plan: list[Combination],
    candles: CandleArrays,
    timeframe: Timeframe | None,
    limits: Limits,
) -> int:
    from tradewinds.backtest.portfolio import FillPrice
    from tradewinds.backtest.sweep import SweepSettings, ranked, run_sweep
    from tradewinds.backtest.sweep_report import ProgressBar, failures_text, json_lines, render_table
    from tradewinds.strategy.param_names import check_param_names, literal_param_names

    given = [*params, *plan[0]]
    settings = SweepSettings(
        source, params, args.cash, args.fee, FillPrice(args.fill), limits, Path(args.strategy).name
    )
    progress = ProgressBar(len(plan), sys.stderr)
    # Names not written literally in the source are checked against the first combination that
    # ran: it either read them (a computed name) or the sweep stops before wasting the rest.
    pending_check = not set(given) <= literal_param_names(source)

    def on_result(result: SweepResult) -> None:
        nonlocal pending_check
        progress.advance()
        if pending_check and result.metrics is not None:
            check_param_names(given, source, result.params_read, "--param/--sweep")
            pending_check = False

    results, partial_ms = run_sweep(
        candles, plan, settings, timeframe=timeframe, jobs=args.jobs, on_result=on_result
    )
    failed = sum(r.metrics is None for r in results)
    progress.finish(failed)
    for line in failures_text(results):
        print(f"{args.strategy}: {line}", file=sys.stderr)
    if failed == len(results):
        print(f"error: {args.strategy}: every combination failed", file=sys.stderr)
        return EXIT_FAILED
    order = ranked(results, args.rank)
    if args.json:
        print(json_lines(order))
    else:
        print(render_table(order, [axis for axis in plan[0]], args.rank, args.top))
        if partial_ms:
            from tradewinds.backtest.report import iso

            shown = ", ".join(iso(t) for t in partial_ms)
            print(f"left out: partial candles at {shown} (the live core would not close them)")
    return EXIT_OK
