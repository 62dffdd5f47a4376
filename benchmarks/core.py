"""Core speed: how many candle updates the pipeline takes per second, and how long a minute takes
from the update that closes it to a subscriber holding its ClosedCandle, through a real
nats-server and a stored write, with 250 markets closing at once.

Run: .venv/bin/python benchmarks/core.py [--database-url URL]  (default: a temporary SQLite file)

The slowest closes are the first of each new series (1m, then the first whole 5m and 15m
buckets): the core creates 250 series rows then. After that a round's slowest close is what a
live minute costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import nats
import numpy as np

from tradewinds.bus import codec, subjects
from tradewinds.bus.server import EmbeddedNatsServer
from tradewinds.core.pipeline import CandlePipeline, PipelineConfig
from tradewinds.core.service import CoreService, CoreSettings
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, ClosedCandle
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import connect, upgrade_schema

MARKETS = 250
UPDATES_PER_MINUTE = 6  # the forming candle re-sent as it changes, as Bitfinex does
MINUTES = 240


def symbols() -> list[str]:
    return [f"P{i:03d}/USD" for i in range(MARKETS)]


def versions(minute_ms: int, price: float) -> list[Candle]:
    """The forming states of one minute: wider range and more volume each time."""
    return [
        Candle(minute_ms, price, price + step, price - step, price + step / 2, float(step))
        for step in range(1, UPDATES_PER_MINUTE + 1)
    ]


def pipeline_throughput() -> None:
    start = (time.time_ns() // 1_000_000 // MINUTE_MS - MINUTES - 10) * MINUTE_MS
    prices = np.random.default_rng(3).uniform(1, 1000, MARKETS)
    updates = [
        CandleUpdate("bench", symbol, candle, received_ms=minute)
        for m in range(MINUTES)
        for minute in (start + m * MINUTE_MS,)
        for i, symbol in enumerate(symbols())
        for candle in versions(minute, float(prices[i]))
    ]
    pipeline = CandlePipeline(PipelineConfig(startup_backfill=False))
    now = start + MINUTES * MINUTE_MS
    began = time.perf_counter()
    closes = 0
    for update in updates:
        closes += len(pipeline.on_update(update, now).closed)
    seconds = time.perf_counter() - began
    print(
        f"pipeline: {len(updates):,} updates of {MARKETS} markets in {seconds * 1000:.0f} ms: "
        f"{len(updates) / seconds:,.0f} updates/s, {closes:,} closes (1m and rollups)"
    )


async def close_latency(database_url: str, folder: Path) -> None:
    await upgrade_schema(database_url)
    with EmbeddedNatsServer(folder / "nats") as server:
        core_bus, adapter, reader = [await nats.connect(server.url) for _ in range(3)]
        async with connect(database_url) as engine:
            core = CoreService(
                core_bus,
                CandleStore(engine),
                CandlePipeline(PipelineConfig(startup_backfill=False)),
                CoreSettings(status_seconds=3600),
            )
            await core.start()
            arrivals = Arrivals()

            async def received(msg: nats.aio.msg.Msg) -> None:
                closed = codec.decode(msg.data, ClosedCandle)
                arrivals.add((closed.symbol, closed.candle.time))

            await reader.subscribe(subjects.closed_candles_filter("bench", None, "1m"), cb=received)
            await reader.flush()
            latencies = await _rounds(adapter, arrivals, rounds=20)
            await core.stop()
        for client in (core_bus, adapter, reader):
            await client.close()
    ms = sorted(x * 1000 for x in latencies)
    print(
        f"close latency through NATS + {database_url.split(':')[0]} store, {MARKETS} markets closing "
        f"together, {len(ms)} closes: median {statistics.median(ms):.1f} ms, "
        f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, max {ms[-1]:.1f} ms"
    )


class Arrivals:
    """When each close arrived; `wait_for` returns once all of a round's closes did."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, int], float] = {}
        self._expected: set[tuple[str, int]] = set()
        self._complete = asyncio.Event()

    def add(self, key: tuple[str, int]) -> None:
        self.at[key] = time.perf_counter()
        self._expected.discard(key)
        if not self._expected:
            self._complete.set()

    async def wait_for(self, keys: set[tuple[str, int]], seconds: float) -> None:
        self._expected = keys - self.at.keys()
        self._complete.clear()
        if self._expected:
            await asyncio.wait_for(self._complete.wait(), seconds)


async def _rounds(adapter: nats.NATS, arrivals: Arrivals, rounds: int) -> list[float]:
    """Each round: the next minute's first update for every market, which closes the previous one."""
    subject = subjects.candle_updates("bench")
    start = (time.time_ns() // 1_000_000 // MINUTE_MS - rounds - 5) * MINUTE_MS
    latencies: list[float] = []
    for r in range(rounds + 1):
        minute = start + r * MINUTE_MS
        sent: dict[tuple[str, int], float] = {}
        for symbol in symbols():
            update = CandleUpdate("bench", symbol, versions(minute, 100.0)[0], received_ms=minute)
            await adapter.publish(subject, codec.encode(update))
            sent[(symbol, minute - MINUTE_MS)] = time.perf_counter()
        await adapter.flush()
        if r == 0:
            continue  # the first minute closes nothing
        await arrivals.wait_for(set(sent), seconds=10)
        latencies.extend(arrivals.at[key] - at for key, at in sent.items())
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="where the core stores (default: a temporary SQLite file)")
    args = parser.parse_args()
    pipeline_throughput()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(close_latency(url, Path(tmp)))


if __name__ == "__main__":
    main()
