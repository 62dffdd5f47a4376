"""`tradewinds core`: the candle pipeline as its own process.

It takes every exchange adapter's candle updates from the bus, removes repeats, decides when
candles close, rolls them up to 5m ... 1d, stores them and publishes the closes.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import fail
from tradewinds.commands._service import add_service_options, run_service
from tradewinds.commands.db import add_database_option

if TYPE_CHECKING:  # the components are imported where used: the parser must stay light (cli.py)
    from tradewinds.core.pipeline import PipelineConfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "core",
        help="run the candle pipeline (dedupe, close, roll up, store, publish)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_option(parser)
    parser.add_argument(
        "--upgrade-schema",
        action="store_true",
        help="bring the database schema up to date first (else it must already be: tradewinds db upgrade)",
    )
    parser.add_argument(
        "--grace", type=float, default=5.0, metavar="SECONDS",
        help="how long after a minute ends a late update is still waited for (default 5)",
    )  # fmt: skip
    parser.add_argument(
        "--max-fill-back", type=float, default=48.0, metavar="HOURS",
        help="on start, fill each market back to its last stored minute, but at most this far (default 48)",
    )  # fmt: skip
    parser.add_argument(
        "--status-every", type=float, default=60.0, metavar="SECONDS", help="status line interval"
    )
    add_service_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradewinds.config import tradewinds_home
    from tradewinds.core.pipeline import PipelineConfig
    from tradewinds.instance import AlreadyRunning, exclusive
    from tradewinds.storage.database import resolve_database_url
    from tradewinds.storage.errors import StorageError

    try:
        url = resolve_database_url(args.database)
        config = PipelineConfig(
            grace_ms=int(args.grace * 1000), max_fill_back_ms=int(args.max_fill_back * 3_600_000)
        )
    except (StorageError, ValueError) as exc:
        return fail(str(exc))
    # One core per data folder (and per bus): a second would publish every close twice.
    try:
        with exclusive(tradewinds_home(), "core", "tradewinds core"):
            return run_alone(args, url, config)
    except AlreadyRunning as exc:
        return fail(str(exc), status=1)


def run_alone(args: argparse.Namespace, url: str, config: PipelineConfig) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from tradewinds.core.pipeline import CandlePipeline
    from tradewinds.core.service import CoreService, CoreSettings
    from tradewinds.storage.candles import CandleStore
    from tradewinds.storage.database import create_engine, describe_database_error
    from tradewinds.storage.errors import StorageError

    # The database first: a core that cannot store must not start taking candles.
    try:
        asyncio.run(prepare_database(url, args.upgrade_schema))
    except StorageError as exc:
        return fail(str(exc), status=1)
    except (SQLAlchemyError, OSError) as exc:
        return fail(describe_database_error(exc, url), status=1)

    async def body(bus: Any, stop: asyncio.Event) -> int:
        running = await other_cores(bus)
        if running:
            return fail(f"a core already runs on this bus: {running}", status=1)
        from tradewinds.core.decision.service import DecisionService

        engine = create_engine(url)
        # The decision service reads closes from JetStream, so it starts before the candles flow
        # and stops after the pipeline: closes published meanwhile wait for it in the stream.
        decisions = DecisionService(bus, engine)
        try:
            await decisions.start()
            settings = CoreSettings(status_seconds=args.status_every)
            await CoreService(bus, CandleStore(engine), CandlePipeline(config), settings).run(stop)
            return 0
        finally:
            await decisions.stop()
            await engine.dispose()

    return run_service("tradewinds-core", body, args.verbose)


async def other_cores(bus: Any) -> str:
    """The cores that answer on the bus (another machine's, or `tradewinds up`), described."""
    from tradewinds.bus.presence import describe, query_presence

    found = [a for a in await query_presence(bus, wait_s=0.3) if a.component == "core"]
    return "; ".join(describe(a) for a in found)


async def prepare_database(url: str, upgrade: bool) -> None:
    from tradewinds.storage import schema
    from tradewinds.storage.database import create_engine, display_url

    engine = create_engine(url)
    try:
        if upgrade:
            await schema.upgrade(engine)
        await schema.check_current(engine, f"database {display_url(url)}")
    finally:
        await engine.dispose()
