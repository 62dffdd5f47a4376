"""The decision service on closes of 200 markets x 50 assignments (10,000), SQLite, with
`tradewinds eval` workers: from the closes reaching JetStream to every decision recorded.

After a warm-up close that compiles the strategies and sizes the windows, it times waves of 200
closes each to the last recorded evaluation: WAVES with CPython's default collector, then WAVES
with the services' (`tradewinds.heap`), in the same run, with the time spent collecting.
Run: .venv/bin/python benchmarks/decision.py [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import nats
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import strategy
from tradewinds.bus import codec, streams, subjects
from tradewinds.bus.presence import query_presence
from tradewinds.bus.server import EmbeddedNatsServer
from tradewinds.core.decision.service import DecisionService
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.messages import ClosedCandle, CloseReason
from tradewinds.domain.timeframes import Timeframe
from tradewinds.heap import tune_collector
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine, upgrade_schema
from tradewinds.storage.trading_models import (
    AssignmentRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
    UserRow,
)

MARKETS, PER_MARKET, HISTORY = 200, 50, 600
WAVES = 5
M = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % M


def candles(market: int, n: int) -> list[Candle]:
    out = []
    for k in range(n):
        price = 100.0 + market + ((k * 7919 + market * 31) % 97) / 10.0
        out.append(Candle(T0 + k * M, price, price + 0.5, price - 0.5, price, 1.0))
    return out


async def seed(url: str) -> None:
    await upgrade_schema(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(insert(UserRow).values(id=1, email="b@x.io", password_hash="-", created_ms=0))
        await conn.execute(
            insert(TradingAccountRow).values(
                id=1,
                user_id=1,
                name="paper",
                kind="paper",
                paper_balances=json.dumps({"USD": "1e9"}),
                created_ms=0,
            )
        )
        sources = {}
        for i in range(MARKETS * PER_MARKET):
            sources.setdefault(strategy(i)[1], len(sources) + 1)
        await conn.execute(
            insert(StrategyRow),
            [{"id": v, "user_id": 1, "name": f"s{v}", "created_ms": 0} for v in sources.values()],
        )
        await conn.execute(
            insert(StrategyVersionRow),
            [
                {"id": v, "strategy_id": v, "number": 1, "source": s, "created_ms": 0}
                for s, v in sources.items()
            ],
        )
        rows = []
        for m in range(MARKETS):
            for k in range(PER_MARKET):
                i = m * PER_MARKET + k
                rows.append(
                    {
                        "user_id": 1,
                        "version_id": sources[strategy(i)[1]],
                        "account_id": 1,
                        "exchange": "bench",
                        "symbol": f"M{m}/USD",
                        "timeframe": "1m",
                        "allocation": Decimal(100),
                        "params": "{}",
                        "created_ms": 0,
                        "updated_ms": 0,
                    }
                )
        await conn.execute(insert(AssignmentRow), rows)
    store = CandleStore(engine)
    await store.upsert_many(
        {
            SeriesKey("bench", f"M{m}/USD", Timeframe.M1): candles(m, HISTORY + 2 * WAVES + 1)
            for m in range(MARKETS)
        }
    )
    await engine.dispose()


async def publish_wave(nc: nats.NATS, index: int) -> None:
    js = nc.jetstream()
    for m in range(MARKETS):
        candle = candles(m, index + 1)[index]
        close = ClosedCandle("bench", f"M{m}/USD", "1m", candle, CloseReason.NEXT_CANDLE)
        await js.publish(
            subjects.closed_candles("bench", close.symbol, "1m"),
            codec.encode(close),
            headers={"Nats-Msg-Id": streams.closed_candle_id(close)},
        )


async def wait_evaluated(engine: object, candle_ms: int, started: float) -> float:
    while True:
        async with engine.connect() as conn:  # type: ignore[attr-defined]
            done = (
                await conn.execute(select(func.count()).where(AssignmentRow.last_eval_candle_ms == candle_ms))
            ).scalar_one()
        if done == MARKETS * PER_MARKET:
            return time.perf_counter() - started
        await asyncio.sleep(0.01)


class GcClock:
    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def measure(nats_url: str, db_url: str, workers: int) -> None:
    nc = await nats.connect(nats_url)
    while len([a for a in await query_presence(nc, 0.2) if a.component == "eval"]) < workers:
        pass
    engine = create_engine(db_url)
    service = DecisionService(nc, engine)
    await service.start()
    t = time.perf_counter()
    await publish_wave(nc, HISTORY)  # warm-up: compiles strategies, sizes windows, reads windows
    warm = await wait_evaluated(engine, T0 + HISTORY * M, t)
    intents_before = service.counters.intents
    collecting = GcClock()
    gc.callbacks.append(collecting.on_gc)
    default = gc.get_threshold()

    def default_collector() -> None:
        gc.set_threshold(*default)

    wave = HISTORY
    for name, tune in (("default collector", default_collector), ("tuned", tune_collector)):
        tune()
        collecting.seconds, times = 0.0, []
        for _ in range(WAVES):
            wave += 1
            t = time.perf_counter()
            await publish_wave(nc, wave)
            times.append(await wait_evaluated(engine, T0 + wave * M, t))
        print(
            f"{workers} worker(s), {name} {gc.get_threshold()}: {WAVES} waves of 10,000 decisions recorded "
            f"{', '.join(f'{t * 1000:.0f}' for t in times)} ms after their 200 closes were published "
            f"(median {statistics.median(times) * 1000:.0f} ms); {collecting.seconds:.2f} s collecting"
        )
    gc.callbacks.remove(collecting.on_gc)
    print(
        f"warm-up close {warm:.1f} s; {service.counters.intents - intents_before} intents; "
        f"window cache {service.windows.hits} hits"
    )
    await service.stop()
    await engine.dispose()
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite:///{folder}/bench.db"
        asyncio.run(seed(db_url))
        server = EmbeddedNatsServer(Path(folder) / "nats")
        server.start()
        env = {**os.environ, "TRADEWINDS_NATS_URL": server.url, "TRADEWINDS_HOME": folder}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tradewinds.cli", "eval"], env=env, stderr=subprocess.DEVNULL
            )
            for _ in range(args.workers)
        ]
        try:
            asyncio.run(measure(server.url, db_url, args.workers))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    main()
