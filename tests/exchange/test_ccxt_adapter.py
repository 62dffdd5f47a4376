"""The generic ccxt adapter, run against the fake Bitfinex through ccxt and ccxt.pro."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.exchange.conftest import API_KEY, API_SECRET, T0, TEST_LIMITS, Collector, wait_until
from tests.exchange.fake_bitfinex import FakeBitfinex, wire_row
from tradewinds.domain.messages import UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    ExchangeAdapter,
    ExchangeError,
    OrderSide,
    OrderStatus,
)
from tradewinds.exchange.ccxt_adapter import CcxtAdapter, CcxtStreamSettings
from tradewinds.exchange.ratelimit import RateLimiter

M = MINUTE_MS
FAST = CcxtStreamSettings(silence_timeout_s=0.6, reconnect_initial_s=0.05, reconnect_max_s=0.2)


def row(time_ms: int, close: float) -> list[float]:
    return wire_row(time_ms, 100.0, 120.0, 80.0, close, 1.0)


@pytest.fixture
async def generic(fake: FakeBitfinex, limiter: RateLimiter) -> AsyncIterator[CcxtAdapter]:
    adapter = CcxtAdapter(
        "bitfinex",
        API_KEY,
        API_SECRET,
        limits=TEST_LIMITS,
        limiter=limiter,
        stream_settings=FAST,
        env=fake.env(),
        now_ms=lambda: fake.now_ms,
    )
    adapter.exchange.timeout_on_exit = 0
    yield adapter
    await adapter.close()


def leaves(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from leaves(value)
    elif isinstance(node, str):
        yield node


def test_unknown_exchange_id_says_how_to_find_valid_ones() -> None:
    with pytest.raises(ExchangeError) as caught:
        CcxtAdapter("binanse")
    message = str(caught.value)
    assert "unknown exchange id 'binanse'" in message
    assert "Did you mean binance" in message
    assert "print(ccxt.exchanges)" in message


async def test_every_endpoint_is_overridden(fake: FakeBitfinex, generic: CcxtAdapter) -> None:
    assert isinstance(generic, ExchangeAdapter)
    urls = list(leaves(generic.exchange.urls["api"]))
    assert set(urls) == {fake.rest_url, fake.ws_url}  # ccxt.pro's ws endpoints too
    await generic.list_markets()
    assert len(fake.requests_to("/v2/conf/")) == 2


async def test_rest_calls_work_through_generic_ccxt(fake: FakeBitfinex, generic: CcxtAdapter) -> None:
    fake.load_rows("tBTCUSD", "1m", [row(T0 - 2 * M, 101), row(T0 - M, 102), row(T0, 103)])
    candles = await generic.fetch_candles("BTC/USD", Timeframe.M1, T0 - 5 * M)
    assert [(c.time, c.close) for c in candles] == [(T0 - 2 * M, 101), (T0 - M, 102)]

    fake.set_wallet(API_KEY, "USD", "500")
    fake.set_price("tBTCUSD", "100")
    assert (await generic.fetch_balances())["USD"].total == Decimal("500")
    await generic.place_market_order("BTC/USD", OrderSide.BUY, Decimal("1"), client_order_id=77)
    found = await generic.fetch_order("BTC/USD", client_order_id=77)
    assert found is not None and found.status is OrderStatus.CLOSED and found.filled == Decimal("1")
    assert found.fee == Decimal("0.002") and found.fee_currency == "BTC"


async def test_wrong_secret_through_generic_ccxt(fake: FakeBitfinex, limiter: RateLimiter) -> None:
    adapter = CcxtAdapter("bitfinex", API_KEY, "wrong", limits=TEST_LIMITS, limiter=limiter, env=fake.env())
    adapter.exchange.timeout_on_exit = 0
    try:
        with pytest.raises(AuthenticationFailed, match=r"^Bitfinex rejected the API key"):
            await adapter.fetch_balances()
    finally:
        await adapter.close()


async def test_watch_ohlcv_stream_reconnects_and_backfills(fake: FakeBitfinex, generic: CcxtAdapter) -> None:
    fake.load_rows("tBTCUSD", "1m", [row(T0 - M, 99), row(T0, 100)])
    stream = Collector(generic.stream_candles(["BTC/USD"]))
    try:
        first = await stream.wait_count(1)
        assert (first[0].source, first[0].candle.time) == (UpdateSource.SNAPSHOT, T0)
        await fake.push_candle("tBTCUSD", row(T0, 100.5))
        await fake.push_candle("tBTCUSD", row(T0 + M, 101))
        updates = await stream.wait_count(3)
        assert [(u.source, u.candle.time, u.candle.close) for u in updates[1:]] == [
            (UpdateSource.LIVE, T0, 100.5),
            (UpdateSource.LIVE, T0 + M, 101),
        ]

        opened = fake.connections_opened
        fake.load_rows("tBTCUSD", "1m", [row(T0 + M, 101.5), row(T0 + 2 * M, 102), row(T0 + 4 * M, 104)])
        fake.now_ms = T0 + 4 * M + 10_000
        await fake.restart_websockets()
        await wait_until(lambda: fake.connections_opened > opened and fake.channel_count == 1)
        await stream.wait_for(
            lambda u: u[-1].source is UpdateSource.SNAPSHOT and u[-1].candle.time == T0 + 4 * M
        )
        after = stream.updates[3:]
        assert [(u.source, u.candle.time) for u in after] == [
            (UpdateSource.BACKFILL, T0 + M),
            (UpdateSource.BACKFILL, T0 + 2 * M),
            (UpdateSource.SNAPSHOT, T0 + 4 * M),
        ]
        assert after[0].candle.close == 101.5
        assert after[0].exchange == "bitfinex"
    finally:
        await stream.close()


async def test_watch_ohlcv_stream_recovers_from_silence(fake: FakeBitfinex, generic: CcxtAdapter) -> None:
    fake.load_rows("tBTCUSD", "1m", [row(T0, 100)])
    stream = Collector(generic.stream_candles(["BTC/USD"]))
    try:
        await stream.wait_count(1)
        await wait_until(lambda: fake.channel_count == 1)
        opened = fake.connections_opened
        fake.silence_connections()
        fake.load_rows("tBTCUSD", "1m", [row(T0, 100.3), row(T0 + M, 101), row(T0 + 2 * M, 102)])
        fake.now_ms = T0 + 2 * M + 10_000
        await wait_until(lambda: fake.connections_opened > opened, within=5)
        await stream.wait_for(lambda u: u[-1].candle.time == T0 + 2 * M)
        assert [(u.source, u.candle.time) for u in stream.updates[1:]] == [
            (UpdateSource.BACKFILL, T0),
            (UpdateSource.BACKFILL, T0 + M),
            (UpdateSource.SNAPSHOT, T0 + 2 * M),
        ]
    finally:
        await stream.close()
