"""`tradewinds up`: the whole platform in one process, on embedded defaults, trading on paper.

- its own nats-server (unless TRADEWINDS_NATS_URL is set) and the SQLite database in the data
  folder (TRADEWINDS_HOME, default ~/.tradewinds), its schema brought up to date;
- the simulated exchange `sim` (10 synthetic markets; the last 2 hours replayed at 120x, then
  real time), with order execution on paper accounts;
- the core (closes, rollups, storage) with its decision service, and two evaluation workers;
- a demo user whose strategies (the founding paper's SMA/EMA example, MACD+RSI, an EMA cross)
  trade four sim markets on a paper account, created on the first run only;
- a live status: candles, evaluations, orders, each assignment's position and P&L.

Logs go to $TRADEWINDS_HOME/logs/up.log (--verbose shows them too). Ctrl-C stops everything
cleanly; running it again continues where it stopped. One per data folder: a second `up` (or a
`tradewinds core`) on the same folder refuses to start and names the one running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewinds.commands._common import fail

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tradewinds.exchange.sim import SimulatedExchange

log = logging.getLogger("tradewinds.up")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the whole platform in one process on embedded defaults, trading on paper",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pairs", type=int, default=10, help="simulated markets (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated markets (default 1)")
    parser.add_argument(
        "--catch-up", type=float, default=2.0, metavar="HOURS",
        help="simulated hours replayed quickly before real time (default 2)",
    )  # fmt: skip
    parser.add_argument("--speed", type=float, default=120.0, help="catch-up speed (default 120x)")
    parser.add_argument("--workers", type=int, default=2, help="evaluation workers (default 2)")
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo user and assignments")
    parser.add_argument(
        "--web-port", type=int, default=int(os.environ.get("TRADEWINDS_WEB_PORT") or 8000),
        help="port of the web desk on 127.0.0.1 (default TRADEWINDS_WEB_PORT or 8000)",
    )  # fmt: skip
    parser.add_argument("--no-web", action="store_true", help="do not serve the web desk")
    parser.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="status interval (default 1 s on a terminal, else 10 s)",
    )
    parser.add_argument("--for", dest="seconds", type=float, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the log here too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradewinds.config import tradewinds_home
    from tradewinds.instance import AlreadyRunning, exclusive

    if args.pairs < 4 or args.catch_up < 0 or args.speed <= 0 or args.workers < 1:
        return fail("--pairs must be at least 4 (the demo trades four), --catch-up not negative, "
                    "--speed positive, --workers at least 1")  # fmt: skip
    home = tradewinds_home()
    try:
        with exclusive(home, "core", "tradewinds up"):
            log_file = setup_logging(home, args.verbose)
            return run_locked(args, home, log_file)
    except AlreadyRunning as exc:
        return fail(str(exc), status=1)


def setup_logging(home: Path, verbose: bool) -> Path:
    """Everything to the data folder's log file; to stderr too with --verbose. Quiet otherwise:
    the status view is what a person reads."""
    folder = home / "logs"
    folder.mkdir(exist_ok=True)
    path = folder / "up.log"
    root = logging.getLogger()
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(file_handler)
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(stream)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("asyncio", "aiosqlite", "nats", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    return path


def run_locked(args: argparse.Namespace, home: Path, log_file: Path) -> int:
    from tradewinds.commands._service import run_service
    from tradewinds.storage.database import create_engine, display_url, resolve_database_url
    from tradewinds.storage.errors import StorageError

    try:
        url = resolve_database_url(None)
    except StorageError as exc:
        return fail(str(exc))

    async def body(bus: Any, stop: asyncio.Event) -> int:
        from tradewinds.storage import schema

        if args.seconds is not None:
            asyncio.get_running_loop().call_later(args.seconds, stop.set)
        engine = create_engine(url)
        try:
            await schema.upgrade(engine)
            print(f"Tradewinds on embedded defaults: data folder {tilde(home)}, database {display_url(url)}")
            return await Platform(bus, engine, args, home, log_file).run(stop)
        except (StorageError, OSError) as exc:
            return fail(str(exc), status=1)
        finally:
            await engine.dispose()

    # run_service's logging set-up is a no-op here: the root logger already has our handlers.
    return run_service("tradewinds-up", body, args.verbose)


class Platform:
    """Every component of the platform on one bus and one database, started and stopped in order."""

    def __init__(self, bus: Any, engine: AsyncEngine, args: argparse.Namespace, home: Path, log_file: Path):
        self.bus, self.engine, self.args, self.home, self.log_file = bus, engine, args, home, log_file
        self.services: list[tuple[str, Any]] = []  # started, in order; stopped in reverse
        self.sim_start_ms = 0

    async def run(self, stop: asyncio.Event) -> int:
        from tradewinds.core.pipeline import CandlePipeline, PipelineConfig
        from tradewinds.core.service import CoreService
        from tradewinds.exchange.service import ExchangeService
        from tradewinds.storage.candles import CandleStore

        header = await self.prepare_demo()
        sim = await self.simulated_exchange()
        header.append(sim_line(sim, self.sim_start_ms, self.args))
        if not self.args.no_web:
            header.append(f"Web desk: {await self.start_web()}")
        header.append(f"Logs: {tilde(self.log_file)}")
        for line in header:
            print(line, flush=True)
        core = CoreService(self.bus, CandleStore(self.engine), CandlePipeline(PipelineConfig(grace_ms=2_000)))
        exchange = ExchangeService(self.bus, sim, sim.symbols)
        try:
            await self.start("core", core)
            await self.start_trading(sim)
            streaming = asyncio.create_task(exchange.run(stop), name="up-exchange")
            await self.watch(stop, streaming, header)
            await streaming  # re-raises what ended the stream early, if anything did
        finally:
            stop.set()
            await self.stop_all()
            await sim.close()
        await self.farewell(core)
        return 0

    async def prepare_demo(self) -> list[str]:
        from tradewinds.platform.demo import DEMO_ACCOUNT, DEMO_EMAIL, ensure_demo

        if self.args.no_demo:
            return ["No demo user (--no-demo): assign strategies with `tradewinds assign`."]
        demo = await ensure_demo(self.engine, self.home)
        how = "created" if demo.created else "continuing"
        return [
            f"Demo user {DEMO_EMAIL} ({how}; login in {tilde(self.home / 'demo-login.txt')}): "
            f"{demo.assignments} assignments trading sim markets on the paper account {DEMO_ACCOUNT}."
        ]

    async def simulated_exchange(self) -> SimulatedExchange:
        """The sim, resuming from the newest minute an earlier run stored (within --catch-up)."""
        from tradewinds.domain.candles import SeriesKey
        from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
        from tradewinds.exchange.resume import wall_clock_ms
        from tradewinds.exchange.sim import SimulatedExchange
        from tradewinds.storage.candles import CandleStore

        now = wall_clock_ms()
        start = now - round(self.args.catch_up * 60 * MINUTE_MS)
        probe = SimulatedExchange(pairs=self.args.pairs, seed=self.args.seed)
        store = CandleStore(self.engine)
        newest = [await store.latest_time(SeriesKey("sim", s, Timeframe.M1)) for s in probe.symbols]
        await probe.close()
        stored = [t for t in newest if t is not None]
        if stored:
            start = max(start, min(min(stored) + MINUTE_MS, now))
        start -= start % MINUTE_MS
        self.sim_start_ms = start
        return SimulatedExchange(
            pairs=self.args.pairs, seed=self.args.seed, speed=self.args.speed, start_ms=start,
            realtime_after_catch_up=True,
        )  # fmt: skip

    async def start_trading(self, sim: SimulatedExchange) -> None:
        from tradewinds.core.decision.service import DecisionService
        from tradewinds.eval.worker import EvaluationWorker
        from tradewinds.exchange.execution.service import ExecutionService

        await self.start("execution", ExecutionService(self.bus, self.engine, "sim", sim))
        for number in range(1, self.args.workers + 1):
            worker = EvaluationWorker(self.bus, self.engine, name=f"up-eval-{number}")
            await self.start(f"eval-{number}", worker)
        await self.start("decision", DecisionService(self.bus, self.engine))

    async def start_web(self) -> str:
        """The web desk on this process's bus and database; its URL."""
        from tradewinds.web.app import create_app
        from tradewinds.web.server import WebServer
        from tradewinds.web.settings import WebSettings

        app = create_app(WebSettings.from_environment(self.home), engine=self.engine, bus=self.bus)
        server = WebServer(app, "127.0.0.1", self.args.web_port)
        await self.start("web", server)
        return server.url

    async def start(self, name: str, service: Any) -> None:
        await service.start()
        self.services.append((name, service))
        log.info("up: %s started", name)

    async def stop_all(self) -> None:
        # Reverse order: the decision service stops before the workers it waits for; the core
        # finishes its queue (stored, then published) after the exchange stopped feeding it.
        for name, service in reversed(self.services):
            try:
                log.info("up: stopping %s", name)  # the log then names a stop that never ends
                await service.stop()
                log.info("up: %s stopped", name)
            except Exception:
                log.exception("up: %s failed while stopping", name)
        self.services.clear()

    async def watch(self, stop: asyncio.Event, streaming: asyncio.Task[None], header: list[str]) -> None:
        from tradewinds.platform.collect import collect_report
        from tradewinds.platform.console import LiveStatus

        url = self.bus.connected_url.geturl() if self.bus.connected_url else None
        view = LiveStatus(
            lambda: collect_report(self.bus, self.engine, url, wait_s=0.2),
            interval_s=self.args.every,
            header=header,
        )
        self.view = view
        drawing = asyncio.create_task(view.run(stop), name="up-status")
        await asyncio.wait({drawing, streaming}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        with contextlib.suppress(Exception):
            await drawing

    async def farewell(self, core: Any) -> None:
        from tradewinds.platform.collect import collect_report
        from tradewinds.platform.view import orders_line

        report = await collect_report(None, self.engine, None)
        decided = sum(1 for a in report.assignments if a.last_eval_outcome is not None)
        c = core.counters
        print(
            f"Stopped cleanly: {c.stored:,} candles stored, {c.published:,} closes published; "
            f"{decided} of {len(report.assignments)} assignments evaluated; orders: {orders_line(report)}.\n"
            "Run `tradewinds up` again to continue where it stopped.",
            flush=True,
        )


def tilde(path: Path) -> str:
    """`path` with the user's home folder shown as `~`, as people write it."""
    with contextlib.suppress(ValueError, RuntimeError):
        return f"~/{path.relative_to(Path.home())}"
    return str(path)


def sim_line(sim: SimulatedExchange, start_ms: int, args: argparse.Namespace) -> str:
    from tradewinds.domain.times import format_time_ms

    names = ", ".join(sim.symbols[:4]) + (", ..." if len(sim.symbols) > 4 else "")
    started = format_time_ms(start_ms)
    return (
        f"Simulated exchange: {len(sim.symbols)} markets ({names}), from {started} at {args.speed:g}x "
        "until it reaches the present, then real time."
    )
