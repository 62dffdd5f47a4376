"""`tradewinds exchange NAME`: an exchange adapter as its own process.

It streams the 1-minute candles of the chosen markets to the core over the bus and answers the
core's backfill requests. NAME is `bitfinex`, `sim` (the simulated exchange) or any ccxt id.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import fail
from tradewinds.commands._service import add_service_options, run_service
from tradewinds.domain.timeframes import MINUTE_MS

if TYPE_CHECKING:  # the components are imported where used: the parser must stay light (cli.py)
    from tradewinds.exchange.adapter import ExchangeAdapter

log = logging.getLogger("tradewinds.exchange")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "exchange",
        help="stream an exchange's candles to the core",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="bitfinex, sim, or any ccxt exchange id")
    markets = parser.add_mutually_exclusive_group()
    markets.add_argument("--symbols", metavar="A/B,C/D", help="markets to stream, e.g. BTC/USD,ETH/USD")
    markets.add_argument("--all-symbols", action="store_true", help="every spot market of the exchange")
    sim = parser.add_argument_group("simulated exchange (NAME sim)")
    sim.add_argument("--pairs", type=int, default=8, help="synthetic markets (default 8)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the synthetic markets (default 1)")
    sim.add_argument(
        "--speed", type=float, default=1.0,
        help="simulated seconds per real second (default 1; 60 = a simulated minute per second)",
    )  # fmt: skip
    sim.add_argument(
        "--catch-up", type=float, default=0.0, metavar="HOURS",
        help="start this many hours in the past, run at --speed until the present, then in real time",
    )  # fmt: skip
    sim.add_argument(
        "--updates-per-minute", type=int, default=6, metavar="N",
        help="updates of each forming minute, the last at its end (default 6; 1 = only the closed candle)",
    )  # fmt: skip
    sim.add_argument("--replay", metavar="FILE.csv", help="replay a 1-minute candle CSV instead")
    sim.add_argument("--replay-symbol", default="BTC/USD", help="the market the replayed file is (BTC/USD)")
    parser.add_argument(
        "--no-execution", dest="execute", action="store_false",
        help="only stream candles; do not execute order intents (default: execute them)",
    )  # fmt: skip
    add_service_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradewinds.domain.candle_csv import CandleCsvError
    from tradewinds.exchange.adapter import ExchangeError
    from tradewinds.exchange.service import ExchangeService

    try:
        adapter = make_adapter(args)
    except (ExchangeError, CandleCsvError, ValueError, OSError) as exc:
        return fail(str(exc))

    async def body(bus: Any, stop: asyncio.Event) -> int:
        from tradewinds.commands._execution import running_execution

        try:
            symbols = await chosen_symbols(adapter, args)
            async with running_execution(bus, adapter, enabled=args.execute):
                await ExchangeService(bus, adapter, symbols).run(stop)
            return 0
        except ExchangeError as exc:
            return fail(str(exc), status=1)
        finally:
            await adapter.close()

    return run_service(f"tradewinds-exchange-{args.name}", body, args.verbose)


def make_adapter(args: argparse.Namespace) -> ExchangeAdapter:
    from tradewinds.exchange.registry import SIM_ID, open_adapter
    from tradewinds.exchange.resume import wall_clock_ms
    from tradewinds.exchange.sim import SimulatedExchange

    name = args.name.strip().lower()
    if name != SIM_ID:
        return open_adapter(name)
    if args.replay:
        return SimulatedExchange.replay(
            args.replay,
            symbol=args.replay_symbol,
            speed=args.speed,
            updates_per_minute=args.updates_per_minute,
        )
    if args.catch_up < 0:
        raise ValueError("--catch-up cannot be negative")
    start = wall_clock_ms() - round(args.catch_up * 60 * MINUTE_MS)
    return SimulatedExchange(
        pairs=args.pairs,
        seed=args.seed,
        speed=args.speed,
        updates_per_minute=args.updates_per_minute,
        start_ms=start,
        realtime_after_catch_up=args.catch_up > 0,
    )


async def chosen_symbols(adapter: ExchangeAdapter, args: argparse.Namespace) -> list[str]:
    from tradewinds.exchange.adapter import ExchangeError
    from tradewinds.exchange.sim import SimulatedExchange

    if args.symbols:
        symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]  # as ccxt spells them
        if not symbols:
            raise ExchangeError("--symbols is empty; give markets such as BTC/USD,ETH/USD")
        return symbols
    if args.all_symbols or isinstance(adapter, SimulatedExchange):
        markets = await adapter.list_markets()
        log.info("%s: streaming all %d markets", adapter.name, len(markets))
        return [m.symbol for m in markets]
    raise ExchangeError("say which markets to stream: --symbols BTC/USD,ETH/USD or --all-symbols")
