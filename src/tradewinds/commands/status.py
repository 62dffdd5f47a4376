"""`tradewinds status [--json]`: which components run, candle lag per exchange, evaluations per
minute, orders, errors, and each assignment's position and P&L.

Components answer a presence query on the bus (TRADEWINDS_NATS_URL, or the data folder's embedded
server if one runs: status never starts one); the rest comes from the database. The JSON object
has `components`, `candles`, `evaluations`, `orders`, `errors` and `assignments`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import fail
from tradewinds.commands.db import add_database_option

if TYPE_CHECKING:
    from tradewinds.config import Settings
    from tradewinds.platform.status import StatusReport


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="what runs, candle lag, evaluations, orders, errors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object, for scripts and monitoring")
    parser.add_argument(
        "--wait", type=float, default=0.5, metavar="SECONDS", help="how long components may take to answer"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    import msgspec

    from tradewinds.config import Settings
    from tradewinds.platform.view import render
    from tradewinds.storage.database import resolve_database_url
    from tradewinds.storage.errors import StorageError

    try:
        url = resolve_database_url(args.database)
    except StorageError as exc:
        return fail(str(exc))
    report = asyncio.run(gather(Settings.from_env(), url, args.wait))
    if args.json:
        print(json.dumps(msgspec.to_builtins(report), indent=2))
    else:
        print("\n".join(render(report)))
    return 0


async def gather(settings: Settings, database_url: str, wait_s: float) -> StatusReport:
    import contextlib

    import msgspec

    from tradewinds.bus.connection import BusUnavailable, connect_to, embedded_server_folder
    from tradewinds.bus.shared_server import running_server_url
    from tradewinds.platform.collect import collect_report
    from tradewinds.platform.status import Problem
    from tradewinds.storage.database import create_engine

    bus_url = settings.nats_url or running_server_url(embedded_server_folder(settings.home))
    problems: list[Problem] = []
    bus: Any = None
    if bus_url is not None:
        try:
            bus = await connect_to(bus_url, "tradewinds-status", connect_timeout=3)
        except BusUnavailable as exc:
            problems.append(Problem("bus", str(exc)))
    engine = create_engine(database_url)
    try:
        report = await collect_report(bus, engine, bus_url if bus is not None else None, wait_s)
    finally:
        await engine.dispose()
        if bus is not None:
            with contextlib.suppress(Exception):
                await bus.close()
    if problems:
        report = msgspec.structs.replace(report, errors=[*problems, *report.errors])
    return report
