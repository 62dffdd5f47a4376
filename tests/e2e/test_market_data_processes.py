"""Market data end to end, as separate processes: `tradewinds exchange sim`, `tradewinds core` and
`tradewinds watch candles` on a private nats-server, storing into SQLite and PostgreSQL.

The simulated exchange starts an hour in the past and runs at 600x until the present, so an hour of
minutes flows in seconds. The core is killed (SIGKILL, mid-stream) and started again: what it
stores must still be every minute the exchange traded, exactly, with rollups equal to resampling.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, platform, published_closes
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.sim import SyntheticMarket
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine

pytestmark = pytest.mark.slow
PAIRS, SEED = 2, 7


@pytest.fixture
def processes(tmp_path: Path, nats_url: str, database_url: str) -> Iterator[Processes]:
    yield from platform(tmp_path, nats_url, database_url)  # on SQLite and on PostgreSQL


async def stored(url: str, symbol: str, timeframe: Timeframe) -> CandleArrays:
    engine = create_engine(url)
    try:
        return await CandleStore(engine).range_arrays(SeriesKey("sim", symbol, timeframe), None, None)
    finally:
        await engine.dispose()


def test_candles_flow_from_exchange_through_core_to_storage_and_watchers(processes: Processes) -> None:
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    core = processes.start("core", "core", "--grace", "1")
    watch = processes.start(
        "watch", "watch", "candles", "--exchange", "sim", "--timeframe", "5m", "--count", "4", "--json",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.5)  # the core subscribes before the first update
    processes.start(
        "exchange",
        "exchange",
        "sim",
        "--pairs",
        str(PAIRS),
        "--seed",
        str(SEED),
        "--speed",
        "600",
        "--catch-up",
        "1",
    )
    # A third of the way into the catch-up, the core dies without a chance to clean up...
    time.sleep(3.0)
    core.kill()
    core.wait()
    # ...and comes back; the updates sent meanwhile are lost to it, and it must backfill them.
    core = processes.start("core-again", "core", "--grace", "1")
    out, _ = watch.communicate(timeout=60)
    closes = [json.loads(line) for line in out.decode().splitlines()]
    assert len(closes) == 4 and {c["timeframe"] for c in closes} == {"5m"}, processes.log("watch")
    time.sleep(8.0)  # the catch-up (6 s at 600x) is over; the present minute is forming
    assert processes.stop("exchange") == 0, processes.log("exchange")
    time.sleep(2.0)
    assert processes.stop("core-again") == 0, processes.log("core-again")

    # Exactly once: the restarted core closed the minutes it backfilled again, and the stream kept
    # each close once.
    keys = [
        (c.symbol, c.timeframe, c.candle.time) for c in published_closes(processes.env["TRADEWINDS_NATS_URL"])
    ]
    assert keys and len(keys) == len(set(keys))

    market = SyntheticMarket(PAIRS, SEED)
    for symbol in ("ALPHA/USD", "BRAVO/USD"):
        minutes = asyncio.run(stored(url, symbol, Timeframe.M1))
        assert len(minutes) > 50, f"{symbol}: only {len(minutes)} minutes stored"
        first, last = int(minutes.time[0]), int(minutes.time[-1])
        expected = market.closed(symbol, first, last)
        # Every minute the exchange traded is stored, once, exactly as it traded: nothing lost
        # while the core was down, nothing forming stored as closed.
        assert minutes.time.tolist() == expected.time.tolist(), symbol
        assert minutes.to_candles() == expected.to_candles(), symbol
        five = asyncio.run(stored(url, symbol, Timeframe.M5))
        whole = [
            t
            for t in five.time.tolist()
            if t >= first - first % (5 * MINUTE_MS) and t + 5 * MINUTE_MS <= last
        ]
        want = {c.time: c for c in resample_candles(expected, Timeframe.M5).to_candles()}
        got = {c.time: c for c in five.to_candles()}
        # What was published as closed is what stayed stored: no close was corrected afterwards.
        for close in (c for c in closes if c["symbol"] == symbol):
            assert close["candle"] == _row(got[close["candle"][0]]), (symbol, close)
        for t in whole[1:]:  # the first bucket may have begun before the first stored minute
            assert got[t].open == want[t].open and got[t].close == want[t].close, (symbol, t)
            assert got[t].high == want[t].high and got[t].low == want[t].low, (symbol, t)


def _row(candle: object) -> list[float]:
    return [getattr(candle, f) for f in ("time", "open", "high", "low", "close", "volume")]
