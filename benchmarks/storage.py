"""Candle storage speed: bulk upsert throughput on SQLite and PostgreSQL, and how fast the last
1,000 candles of one market come back with 10 million candles stored (200 series × 50,000).

Run: .venv/bin/python benchmarks/storage.py [--postgres-url postgresql://user@host/db]
PostgreSQL comes from --postgres-url or TRADEWINDS_TEST_POSTGRES_URL (a server where we may
CREATE DATABASE); the benchmark creates its own database there and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import numpy as np
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import connect, upgrade_schema

START = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def minutes(count: int, seed: int, start: int = START) -> list[Candle]:
    rng = np.random.default_rng(seed)
    close = (100 + seed) * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    wick = np.abs(rng.normal(0, 0.0005, count)) * close
    open_ = np.r_[close[0], close[:-1]]
    high, low = np.maximum(open_, close) + wick, np.minimum(open_, close) - wick
    volume = rng.uniform(0.1, 10, count)
    times = range(start, start + count * MINUTE_MS, MINUTE_MS)
    return [
        Candle(t, o, h, lo, c, v)
        for t, o, h, lo, c, v in zip(
            times, open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist(), strict=True
        )
    ]


def key(i: int) -> SeriesKey:
    return SeriesKey("bench", f"COIN{i:03d}/USD", Timeframe.M1)


async def timed_upsert(store: CandleStore, series: SeriesKey, candles: list[Candle]) -> tuple[float, int]:
    started = time.perf_counter()
    written = await store.upsert(series, candles)
    return time.perf_counter() - started, written


async def write_throughput(store: CandleStore, label: str, series: int, per_series: int) -> None:
    """New history, then the same again (no change), then every candle changed."""
    batches = [minutes(per_series, seed=i) for i in range(series)]
    total = series * per_series
    for phase in ("new", "unchanged", "changed"):
        if phase == "changed":
            batches = [[_changed(c) for c in batch] for batch in batches]
        elapsed, written = 0.0, 0
        for i, batch in enumerate(batches):
            seconds, count = await timed_upsert(store, key(i), batch)
            elapsed, written = elapsed + seconds, written + count
        print(
            f"  {label} upsert, {phase:9}: {total / elapsed:>10,.0f} candles/s "
            f"({series} × {per_series:,} candles, {written:,} rows written)"
        )


def _changed(c: Candle) -> Candle:
    return Candle(c.time, c.open, c.high, c.low, c.close, c.volume + 1)


async def read_latency(store: CandleStore, label: str, series: int, reads: int) -> None:
    rng = np.random.default_rng(7)
    await store.last(key(0), 1_000)  # warm the connection pool and statement caches
    samples = []
    for i in rng.integers(0, series, reads):
        started = time.perf_counter()
        candles = await store.last(key(int(i)), 1_000)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(candles) == 1_000
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"  {label} last 1,000 candles: median {statistics.median(samples):.2f} ms, "
        f"p99 {p99:.2f} ms ({reads} reads over {series} series)"
    )
    started = time.perf_counter()
    arrays = await store.range_arrays(key(0))
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"  {label} range_arrays of {len(arrays):,} candles: {elapsed_ms:.0f} ms")


async def sqlite_benchmark(series: int, per_series: int, reads: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tradewinds-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        await upgrade_schema(url)
        async with connect(url) as engine:
            store = CandleStore(engine)
            await write_throughput(store, "SQLite", series, per_series)
            await read_latency(store, "SQLite", series, reads)


async def postgres_benchmark(server_url: str, series: int, per_series: int, reads: int) -> None:
    name = f"tradewinds_bench_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await upgrade_schema(url)
            async with connect(url) as engine:
                store = CandleStore(engine)
                await write_throughput(store, "PostgreSQL", 4, per_series)
                await fill(store, series, per_series)
                await vacuum(engine)
                await read_latency(store, "PostgreSQL", series, reads)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def fill(store: CandleStore, series: int, per_series: int) -> None:
    elapsed = 0.0
    for i in range(4, series):  # the first four were written by the throughput run
        seconds, _ = await timed_upsert(store, key(i), minutes(per_series, seed=i))
        elapsed += seconds
    stored = sum([await store.count(key(i)) for i in range(0, series, max(1, series // 10))])
    total = (series - 4) * per_series
    print(
        f"  PostgreSQL filled to {series * per_series:,} candles: {total / elapsed:,.0f} candles/s "
        f"(sampled counts {stored:,})"
    )


async def vacuum(engine: AsyncEngine) -> None:
    # What autovacuum does soon after a bulk load anyway: statistics and the visibility map.
    started = time.perf_counter()
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE candles")
    print(f"  PostgreSQL VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", default=os.environ.get("TRADEWINDS_TEST_POSTGRES_URL"))
    parser.add_argument("--series", type=int, default=200, help="series stored in PostgreSQL (default 200)")
    parser.add_argument("--candles", type=int, default=50_000, help="candles per series (default 50000)")
    parser.add_argument("--reads", type=int, default=500, help="last-1,000 reads to time (default 500)")
    args = parser.parse_args()

    started = time.perf_counter()
    print("SQLite (temporary file):")
    asyncio.run(sqlite_benchmark(4, args.candles, args.reads))
    if args.postgres_url:
        print(f"PostgreSQL ({make_url(args.postgres_url).render_as_string(hide_password=True)}):")
        asyncio.run(postgres_benchmark(args.postgres_url, args.series, args.candles, args.reads))
    else:
        print("PostgreSQL: skipped (give --postgres-url or set TRADEWINDS_TEST_POSTGRES_URL)")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
