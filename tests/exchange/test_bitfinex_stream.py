"""The Bitfinex candle stream against the fake: many markets, re-sends, reconnects, maintenance, catch-up."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.exchange.conftest import FAST_STREAM, T0, AdapterFactory, Collector, wait_until
from tests.exchange.fake_bitfinex import FakeBitfinex, generated_pairs, wire_row
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, StreamAlive, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS

M = MINUTE_MS


def row(time_ms: int, close: float, volume: float = 1.0) -> list[float]:
    return wire_row(time_ms, 100.0, max(close, 100.0) + 1, min(close, 100.0) - 1, close, volume)


def of(updates: list[CandleUpdate], symbol: str, source: UpdateSource | None = None) -> list[CandleUpdate]:
    return [
        u
        for u in updates
        if isinstance(u, CandleUpdate) and u.symbol == symbol and (source is None or u.source is source)
    ]


def times(updates: list[CandleUpdate]) -> list[int]:
    return [u.candle.time for u in updates]


async def test_forming_candle_updates_stream_in_order(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.load_rows("tBTCUSD", "1m", [row(T0 - 2 * M, 101), row(T0 - M, 102), row(T0, 103)])
    adapter = await make_adapter()
    stream = Collector(adapter.stream_candles(["BTC/USD", "AVAX/USD"]))
    try:
        first = await stream.wait_count(1)
        # On the first subscription only the newest snapshot candle is news.
        assert first[0].source is UpdateSource.SNAPSHOT and first[0].candle.time == T0
        assert first[0].exchange == "bitfinex" and first[0].symbol == "BTC/USD"
        await wait_until(lambda: fake.channel_count == 2)

        await fake.push_candle("tBTCUSD", wire_row(T0, 100.0, 104.0, 99.0, 103.5, 2.0))  # re-sent, changed
        await fake.push_candle("tBTCUSD", wire_row(T0, 100.0, 105.0, 99.0, 104.5, 3.0))
        await fake.push_candle("tBTCUSD", wire_row(T0 + M, 104.5, 106.0, 104.0, 105.0, 0.5))  # bucket roll
        await fake.push_candle("tAVAX:USD", wire_row(T0, 20.0, 21.0, 19.5, 20.5, 7.0))
        updates = await stream.wait_count(5)
        live = of(updates, "BTC/USD", UpdateSource.LIVE)
        assert [u.candle for u in live] == [
            Candle(T0, 100.0, 104.0, 99.0, 103.5, 2.0),
            Candle(T0, 100.0, 105.0, 99.0, 104.5, 3.0),
            Candle(T0 + M, 104.5, 106.0, 104.0, 105.0, 0.5),
        ]
        assert of(updates, "AVAX/USD")[0].candle == Candle(T0, 20.0, 21.0, 19.5, 20.5, 7.0)
        assert all(u.received_ms == fake.now_ms for u in updates)
    finally:
        await stream.close()


async def test_two_hundred_markets_over_several_connections(make_adapter: AdapterFactory) -> None:
    fake = FakeBitfinex(now_ms=T0 + 10_000, heartbeat_s=1.0, extra_pairs=205)
    async with fake:
        adapter = await make_adapter(env=fake.env(), now_ms=lambda: fake.now_ms)
        symbols = [f"{pair[:3]}/USD" for pair in generated_pairs(205)]
        stream = Collector(adapter.stream_candles(symbols))
        try:
            await wait_until(lambda: fake.channel_count == 205, within=10)
            assert len(fake.connections) == 9  # 25 channels each
            assert max(len(c.channels) for c in fake.connections) == 25
            for pair in generated_pairs(205):
                await fake.push_candle("t" + pair, row(T0, 50.0))
            updates = await stream.wait_count(205, within=10)
            assert {u.symbol for u in updates} == set(symbols)
            assert all(u.source is UpdateSource.LIVE for u in updates)
            assert adapter.last_stream is not None and adapter.last_stream.stats.reconnects == 0
        finally:
            await stream.close()


async def catch_up_scenario(
    fake: FakeBitfinex, make_adapter: AdapterFactory, interrupt: str, snapshot_size: int
) -> tuple[list[CandleUpdate], int]:
    """Stream BTC/USD, interrupt it while minutes T0..T0+3 close, return what arrived after."""
    fake.snapshot_size = snapshot_size
    fake.load_rows("tBTCUSD", "1m", [row(T0 - 2 * M, 98), row(T0 - M, 99), row(T0, 100)])
    adapter = await make_adapter()
    stream = Collector(adapter.stream_candles(["BTC/USD", "ETH/USD"]))
    try:
        await stream.wait_count(1)
        await wait_until(lambda: fake.channel_count == 2)
        await fake.push_candle("tBTCUSD", row(T0, 100.5))
        await stream.wait_count(2)
        opened = fake.connections_opened
        rest_before = len(fake.requests_to("/v2/candles/"))

        if interrupt == "restart":
            # Minutes close while nobody listens: they are stored, not streamed.
            fake.load_rows(
                "tBTCUSD",
                "1m",
                [row(T0, 100.7), row(T0 + M, 101), row(T0 + 3 * M, 103), row(T0 + 4 * M, 104)],
            )
            fake.now_ms = T0 + 4 * M + 10_000
            await fake.restart_websockets()
        elif interrupt == "silence":
            assert fake.silence_connections() == 1
            fake.load_rows(
                "tBTCUSD",
                "1m",
                [row(T0, 100.7), row(T0 + M, 101), row(T0 + 3 * M, 103), row(T0 + 4 * M, 104)],
            )
            fake.now_ms = T0 + 4 * M + 10_000
        await wait_until(lambda: fake.connections_opened > opened and fake.channel_count == 2, within=5)
        await stream.wait_for(lambda u: any(x.candle.time == T0 + 4 * M for x in u))
        await fake.push_candle("tBTCUSD", row(T0 + 4 * M, 104.5))
        await stream.wait_for(lambda u: of(u, "BTC/USD")[-1].candle.close == 104.5)
        rest_requests = len(fake.requests_to("/v2/candles/trade:1m:tBTCUSD/")) - rest_before
        return stream.updates[2:], rest_requests
    finally:
        await stream.close()


def assert_caught_up(after: list[CandleUpdate]) -> None:
    btc = of(after, "BTC/USD")
    backfill = of(after, "BTC/USD", UpdateSource.BACKFILL)
    # Exactly the minutes that closed unseen, in order, each once; T0+2M had no trades.
    assert times(backfill) == [T0, T0 + M, T0 + 3 * M]
    assert backfill[0].candle.close == 100.7  # T0's final state, not the 100.5 seen before
    # Backfill first, then the forming minute from the new snapshot, then live updates.
    assert [u.source for u in btc] == [
        UpdateSource.BACKFILL,
        UpdateSource.BACKFILL,
        UpdateSource.BACKFILL,
        UpdateSource.SNAPSHOT,
        UpdateSource.LIVE,
    ]
    assert times(btc[3:]) == [T0 + 4 * M, T0 + 4 * M]
    assert of(after, "ETH/USD") == []  # no candles, nothing invented


async def test_restart_20051_reconnects_and_backfills_over_rest(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    after, rest_requests = await catch_up_scenario(fake, make_adapter, "restart", snapshot_size=2)
    assert_caught_up(after)
    assert rest_requests == 1  # the snapshot did not reach back to T0


async def test_silent_connection_is_detected_and_backfilled(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    after, rest_requests = await catch_up_scenario(fake, make_adapter, "silence", snapshot_size=2)
    assert_caught_up(after)
    assert rest_requests == 1


async def test_catch_up_from_a_long_enough_snapshot_needs_no_rest(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    after, rest_requests = await catch_up_scenario(fake, make_adapter, "restart", snapshot_size=240)
    assert_caught_up(after)
    assert rest_requests == 0


async def test_maintenance_pauses_then_resubscribes_and_catches_up(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.snapshot_size = 1
    fake.load_rows("tBTCUSD", "1m", [row(T0, 100)])
    adapter = await make_adapter()
    stream = Collector(adapter.stream_candles(["BTC/USD"]))
    try:
        await stream.wait_count(1)
        await wait_until(lambda: fake.channel_count == 1)
        opened, subscribes = fake.connections_opened, fake.subscribe_requests

        await fake.begin_maintenance()
        await fake.push_candle("tBTCUSD", row(T0, 100.2))  # stored, not streamed during maintenance
        await fake.push_candle("tBTCUSD", row(T0 + M, 101))
        await fake.push_candle("tBTCUSD", row(T0 + 2 * M, 102))
        fake.now_ms = T0 + 2 * M + 30_000
        # Quiet for three silence timeouts: a paused client must not reconnect.
        await asyncio.sleep(3 * FAST_STREAM.silence_timeout_s)
        assert fake.connections_opened == opened
        assert len(stream.updates) == 1

        await fake.end_maintenance()
        await stream.wait_for(
            lambda u: any(x.source is UpdateSource.SNAPSHOT and x.candle.time == T0 + 2 * M for x in u)
        )
        after = stream.updates[1:]
        assert [(u.source, u.candle.time) for u in after] == [
            (UpdateSource.BACKFILL, T0),
            (UpdateSource.BACKFILL, T0 + M),
            (UpdateSource.SNAPSHOT, T0 + 2 * M),
        ]
        assert after[0].candle.close == 100.2
        assert fake.connections_opened == opened  # same connection, subscribed again
        assert fake.subscribe_requests == subscribes + 1
        assert fake.channel_count == 1
    finally:
        await stream.close()


async def test_a_refused_subscription_does_not_stop_the_others(
    fake: FakeBitfinex, make_adapter: AdapterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The fake caps channels at 2 per connection while the client opens 3: one is refused (10305)."""
    fake.max_channels = 2
    settings = dataclasses.replace(FAST_STREAM, channels_per_connection=3)
    adapter = await make_adapter(stream_settings=settings)
    stream = Collector(adapter.stream_candles(["BTC/USD", "ETH/USD", "AVAX/USD"]))
    try:
        await wait_until(lambda: fake.channel_count == 2)
        await fake.push_candle("tBTCUSD", row(T0, 100))
        await fake.push_candle("tETHUSD", row(T0, 10))
        updates = await stream.wait_count(2)
        assert {u.symbol for u in updates} == {"BTC/USD", "ETH/USD"}
        assert "too many channels" in caplog.text
    finally:
        await stream.close()


def alive_reports(items: list, symbol: str) -> list[int]:
    return [a.until_ms for a in items if isinstance(a, StreamAlive) and symbol in a.symbols]


async def test_each_connection_reports_liveness_after_its_updates_and_a_silent_one_does_not(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.load_rows("tBTCUSD", "1m", [row(T0, 100)])
    fake.load_rows("tETHUSD", "1m", [row(T0, 10)])
    settings = dataclasses.replace(FAST_STREAM, channels_per_connection=1, silence_timeout_s=1.5)
    adapter = await make_adapter(stream_settings=settings)
    stream = Collector(adapter.stream_market_data(["BTC/USD", "ETH/USD"]))
    try:
        # Once a market's snapshot is in, its connection pings at once: alive up to now.
        await stream.wait_for(lambda u: alive_reports(u, "BTC/USD") and alive_reports(u, "ETH/USD"))
        assert alive_reports(stream.updates, "BTC/USD")[0] == T0 + 10_000
        # Minute T0 trades once more just before it ends; then ETH's connection goes silent.
        await fake.push_candle("tBTCUSD", row(T0, 100.5, volume=2.0))
        await fake.push_candle("tETHUSD", row(T0, 10.5, volume=2.0))
        await stream.wait_for(lambda u: len(of(u, "ETH/USD", UpdateSource.LIVE)) == 1)
        assert fake.silence_connections("tETHUSD") == 1
        opened = fake.connections_opened
        fake.now_ms = T0 + M + 2_500  # past the boundary and the ping delay
        await stream.wait_for(lambda u: max(alive_reports(u, "BTC/USD")) == T0 + M + 2_500)
        btc_alive = next(
            i for i, a in enumerate(stream.updates) if alive_reports([a], "BTC/USD") == [T0 + M + 2_500]
        )
        btc_updates = [
            i for i, u in enumerate(stream.updates) if isinstance(u, CandleUpdate) and u.symbol == "BTC/USD"
        ]
        assert max(btc_updates) < btc_alive  # the report follows what it vouches for
        # ETH's connection answers nothing: no report covers the end of its minute until the
        # adapter has reopened it and caught up from the new snapshot.
        assert max(alive_reports(stream.updates, "ETH/USD")) < T0 + M
        await wait_until(lambda: fake.connections_opened > opened, within=5)
        await stream.wait_for(lambda u: max(alive_reports(u, "ETH/USD")) == T0 + M + 2_500)
        eth = [u for u in stream.updates if isinstance(u, CandleUpdate) and u.symbol == "ETH/USD"]
        first_new_alive = next(
            i for i, a in enumerate(stream.updates) if alive_reports([a], "ETH/USD") == [T0 + M + 2_500]
        )
        assert stream.updates.index(eth[-1]) < first_new_alive
        assert eth[-1].source is UpdateSource.BACKFILL and eth[-1].candle.volume == 2.0
    finally:
        await stream.close()
