"""An exchange adapter starts streaming (and backfills) the markets assignments want."""

from __future__ import annotations

import asyncio
import contextlib

import nats

from tradewinds.bus import codec, subjects
from tradewinds.domain.messages import CandleUpdate, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.trading import MarketsWanted
from tradewinds.exchange.markets import MAX_HISTORY_MINUTES, history_ranges, new_symbols
from tradewinds.exchange.service import ExchangeService
from tradewinds.exchange.sim import SimulatedExchange

T = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS


def test_new_symbols_keep_the_messages_order() -> None:
    wanted = MarketsWanted("sim", ["C/USD", "A/USD", "B/USD"])
    assert new_symbols(["A/USD"], wanted) == ["C/USD", "B/USD"]


def test_history_ranges_cover_whole_minutes_before_the_forming_one_in_chunks() -> None:
    now = T + 30_000  # half-way through minute T
    ranges = history_ranges(now, 25, chunk_minutes=10)
    assert ranges == [
        (T - 25 * MINUTE_MS, T - 16 * MINUTE_MS),
        (T - 15 * MINUTE_MS, T - 6 * MINUTE_MS),
        (T - 5 * MINUTE_MS, T - MINUTE_MS),
    ]
    assert history_ranges(now, 0, 10) == []
    capped = history_ranges(now, 10 * MAX_HISTORY_MINUTES, chunk_minutes=MAX_HISTORY_MINUTES)
    assert capped == [(T - MAX_HISTORY_MINUTES * MINUTE_MS, T - MINUTE_MS)]


async def test_a_wanted_market_is_backfilled_then_streamed_and_a_refused_one_is_dropped(
    nats_url: str,
) -> None:
    sim = SimulatedExchange(pairs=3, seed=2, speed=60.0)
    first, second = sim.symbols[0], sim.symbols[1]
    nc = await nats.connect(nats_url)
    updates: list[CandleUpdate] = []

    async def collect(msg: object) -> None:
        updates.append(codec.decode(msg.data, CandleUpdate))  # type: ignore[attr-defined]

    await nc.subscribe(subjects.candle_updates("sim"), cb=collect)
    service = ExchangeService(nc, sim, [first])
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    try:
        for _ in range(100):
            if any(u.symbol == first for u in updates):
                break
            await asyncio.sleep(0.05)
        assert not any(u.symbol == second for u in updates)
        wanted = MarketsWanted("sim", [first, second, "NOPE/USD"], {second: 40, first: 40, "NOPE/USD": 5})
        await nc.publish(subjects.markets_wanted("sim"), codec.encode(wanted))
        for _ in range(200):
            if any(u.symbol == second and u.source is not UpdateSource.BACKFILL for u in updates):
                break
            await asyncio.sleep(0.05)
        backfilled = [u for u in updates if u.symbol == second and u.source is UpdateSource.BACKFILL]
        # The 40 minutes asked for, less the minutes the market did not trade (the sim skips some,
        # by wall-clock minute): exactly what the exchange's history holds for that span.
        times = [u.candle.time for u in backfilled]
        assert times == sorted(set(times)) and 30 <= len(times) <= 40
        span = await sim.fetch_candles(second, Timeframe.M1, times[-1] - 39 * MINUTE_MS, times[-1])
        assert [u.candle for u in backfilled] == span[-len(backfilled) :]
        assert len(backfilled) == len([c for c in span if c.time >= times[0]])
        live = [u for u in updates if u.symbol == second and u.source is not UpdateSource.BACKFILL]
        assert live, "the wanted market is not streamed"
        assert updates.index(backfilled[-1]) < updates.index(live[0])  # history first
        assert not any(u.symbol == "NOPE/USD" for u in updates)
        # the refused market is dropped; the adapter goes on with the others
        assert "NOPE/USD" not in service.symbols and second in service.symbols
        assert not running.done()
        # the first market was streamed already: not backfilled again
        assert not any(u.symbol == first and u.source is UpdateSource.BACKFILL for u in updates)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 10)
        await nc.close()
