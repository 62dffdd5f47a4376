"""`tradewinds up`: the platform in one process, on embedded defaults.

- a nats-server of its own (unless TRADEWINDS_NATS_URL is set) and the SQLite database in the
  data folder (TRADEWINDS_HOME, default ~/.tradewinds), its schema brought up to date;
- the simulated exchange `sim`: synthetic markets that replay the last hours quickly, then run
  in real time;
- the core: closes, rolls up, stores and publishes their candles, printed here as they close.

The components are the ones `tradewinds exchange` and `tradewinds core` run as separate
processes, talking over the same bus subjects. Evaluation workers, live trading and the web UI
join as they are built. First it backtests the example strategies on bundled real candles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from importlib import resources
from typing import Any

from tradewinds.backtest.report import render_text
from tradewinds.backtest.runner import run_backtest
from tradewinds.bus import codec, subjects
from tradewinds.commands._common import fail
from tradewinds.commands._service import run_service
from tradewinds.core.display import format_closed_candle
from tradewinds.core.pipeline import CandlePipeline, PipelineConfig
from tradewinds.core.service import CoreService
from tradewinds.domain.candle_csv import parse_candle_csv
from tradewinds.domain.messages import ClosedCandle
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.exchange.service import ExchangeService
from tradewinds.exchange.sim import SimulatedExchange
from tradewinds.storage import schema
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine, display_url, resolve_database_url
from tradewinds.storage.errors import StorageError

log = logging.getLogger("tradewinds.up")

DEMOS = (
    (
        "SMA(10) vs EMA(10), the founding example",
        """
        local sma = ta.sma(10)
        local ema = ta.ema(10)
        if sma() > ema() then return "short" else return "long" end
        """,
    ),
    (
        "MACD crossover with an RSI filter",
        """
        local line, signal = ta.macd(12, 26, 9)
        local rsi = ta.rsi(14)
        if crossover(line, signal) and rsi() < 70 then return "long" end
        if crossunder(line, signal) or rsi() > 80 then return "short" end
        """,
    ),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the platform in one process on embedded defaults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pairs", type=int, default=8, help="simulated markets (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated markets (default 1)")
    parser.add_argument(
        "--catch-up", type=float, default=2.0, metavar="HOURS",
        help="simulated hours replayed quickly before real time (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=float, default=120.0, help="how fast the catch-up runs (default 120x)"
    )
    parser.add_argument("--show", default="15m", metavar="TIMEFRAME", help="print closes of this timeframe")
    parser.add_argument("--for", dest="seconds", type=float, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--no-backtest", action="store_true", help="skip the backtest demo")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        shown = Timeframe.parse(args.show)
        url = resolve_database_url(None)
        if args.pairs < 1 or args.catch_up < 0 or args.speed <= 0:
            raise ValueError("--pairs must be at least 1, --catch-up not negative, --speed positive")
    except (ValueError, StorageError) as exc:
        return fail(str(exc))
    if not args.no_backtest:
        backtest_demo()

    async def body(bus: Any, stop: asyncio.Event) -> int:
        if args.seconds is not None:
            asyncio.get_running_loop().call_later(args.seconds, stop.set)
        engine = create_engine(url)
        try:
            await schema.upgrade(engine)
            print(f"Database: {display_url(url)}", flush=True)
            return await run_platform(bus, engine, args, shown, stop)
        except StorageError as exc:
            return fail(str(exc), status=1)
        finally:
            await engine.dispose()

    return run_service("tradewinds-up", body)


async def run_platform(bus: Any, engine: Any, args: argparse.Namespace, shown: Timeframe, stop: Any) -> int:
    start = wall_clock_ms() - round(args.catch_up * 60 * MINUTE_MS)
    sim = SimulatedExchange(
        pairs=args.pairs, seed=args.seed, speed=args.speed, start_ms=start, realtime_after_catch_up=True
    )
    core = CoreService(bus, CandleStore(engine), CandlePipeline(PipelineConfig(grace_ms=2_000)))

    async def show(msg: Any) -> None:
        print(format_closed_candle(codec.decode(msg.data, ClosedCandle)), flush=True)

    watching = await bus.subscribe(subjects.closed_candles_filter("sim", None, shown), cb=show)
    await core.start()
    print(
        f"Simulated markets: {', '.join(sim.symbols)}; replaying {args.catch_up:g} h at {args.speed:g}x, "
        f"then real time. Showing {shown.value} closes (Ctrl-C to stop).",
        flush=True,
    )
    try:
        await ExchangeService(bus, sim, sim.symbols).run(stop)
    finally:
        await sim.close()
        await core.stop()
        with contextlib.suppress(Exception):
            await watching.unsubscribe()
    c = core.counters
    print(f"Stopped: {c.stored} candles stored, {c.published} closes published.", flush=True)
    return 0


def backtest_demo() -> None:
    label = "bundled Bitfinex BTC/USD 1h candles, October 2013"
    text = resources.files("tradewinds.strategy").joinpath("sample_candles.csv").read_text("utf-8")
    candles = parse_candle_csv(text, label)
    print(f"Backtesting the example strategies on {label}\n")
    for title, source in DEMOS:
        result = run_backtest(source, candles)
        print(
            render_text(
                result.metrics,
                strategy=title,
                first_ms=int(candles.time[0]),
                last_ms=int(candles.time[-1]),
                candles=len(candles),
                timeframe="1h",
                cash=10_000.0,
                fee=0.001,
                fill="close",
                warmup_message=result.run.warmup_message,
            )
        )
        print(flush=True)
