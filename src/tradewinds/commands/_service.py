"""What every long-running command shares: logging, the garbage collector's tuning (heap.py), the
bus connection, and a clean stop on Ctrl-C, SIGTERM (Kubernetes sends it) or SIGHUP (a closed
terminal), so queued work is finished before the process exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from tradewinds.commands._common import EXIT_FAILED, fail

ServiceBody = Callable[[Any, asyncio.Event], Awaitable[int]]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Third-party chatter stays out of the operator's log unless asked for.
    for noisy in ("asyncio", "aiosqlite", "nats", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def add_service_options(parser: Any) -> None:
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug detail")


def run_service(name: str, body: ServiceBody, verbose: bool = False) -> int:
    """Connect to the bus and run `body(bus, stop)` until it returns or a stop signal arrives."""
    # Imported here: command modules import this one to build the parser (cli.py).
    from tradewinds.bus.connection import BusUnavailable, bus_connection
    from tradewinds.bus.server import NatsServerError
    from tradewinds.config import Settings
    from tradewinds.heap import tune_collector

    setup_logging(verbose)
    tune_collector()

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        async with bus_connection(Settings.from_env(), name) as bus:
            return await body(bus, stop)

    try:
        return asyncio.run(main())
    except (BusUnavailable, NatsServerError) as exc:
        return fail(str(exc), EXIT_FAILED)
