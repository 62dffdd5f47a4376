"""`tradewinds eval`: an evaluation worker as its own process.

It takes `EvaluationRequest`s from the queue group every worker shares (run as many as you like,
on any machine reaching the same NATS server) and answers each with the decisions of its
strategies. Configured by the environment: TRADEWINDS_NATS_URL (else the data folder's embedded
nats-server), TRADEWINDS_EVAL_TIME_MS and TRADEWINDS_EVAL_MEMORY_MB (the sandbox limits per
evaluation; the options below win).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from tradewinds.commands._common import fail


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="run an evaluation worker (strategies decide on closed candles)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--time-limit", type=float, default=None, metavar="MS",
        help="time a strategy may take per evaluation (default TRADEWINDS_EVAL_TIME_MS or 50)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-limit", type=float, default=None, metavar="MIB",
        help="memory a strategy may use per evaluation (default TRADEWINDS_EVAL_MEMORY_MB or 32)",
    )  # fmt: skip
    parser.add_argument("--name", default=None, help="this worker's name in status (default eval-HOST-PID)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug detail")
    parser.set_defaults(func=run)


def _number(option: float | None, variable: str, default: float) -> float:
    if option is not None:
        return option
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a number") from None


def run(args: argparse.Namespace) -> int:
    from tradewinds.commands._service import run_service
    from tradewinds.eval.worker import EvaluationWorker, WorkerSettings
    from tradewinds.strategy.limits import Limits

    try:
        limits = Limits(
            time_ms=_number(args.time_limit, "TRADEWINDS_EVAL_TIME_MS", Limits.time_ms),
            memory_mb=_number(args.memory_limit, "TRADEWINDS_EVAL_MEMORY_MB", Limits.memory_mb),
        )
    except ValueError as exc:
        return fail(str(exc))

    async def body(bus: Any, stop: asyncio.Event) -> int:
        await EvaluationWorker(bus, settings=WorkerSettings(limits=limits), name=args.name).run(stop)
        return 0

    return run_service("tradewinds-eval", body, args.verbose)
