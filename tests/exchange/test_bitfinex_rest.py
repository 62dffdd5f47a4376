"""BitfinexAdapter's REST side against the fake Bitfinex: markets, history, balances, orders, errors."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.exchange.conftest import API_KEY, T0, TEST_LIMITS, AdapterFactory
from tests.exchange.fake_bitfinex import FakeBitfinex, wire_row
from tradewinds.domain.candles import Candle
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    ExchangeAdapter,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderSide,
    OrderStatus,
)
from tradewinds.exchange.bitfinex import BitfinexAdapter
from tradewinds.exchange.ratelimit import BucketSpec, RateLimiter

DATA = Path(__file__).resolve().parents[2] / "data"


def minute_rows(start: int, count: int, skip: frozenset[int] = frozenset()) -> list[list[float]]:
    """`count` 1-minute rows from `start` (minus the indexes in `skip`), prices distinct per minute."""
    return [
        wire_row(start + i * MINUTE_MS, 100.0 + i, 110.0 + i, 90.0 + i, 105.0 + i, 1.0 + i)
        for i in range(count)
        if i not in skip
    ]


async def test_adapter_satisfies_the_protocol(make_adapter: AdapterFactory) -> None:
    assert isinstance(await make_adapter(), ExchangeAdapter)


async def test_markets_map_bitfinex_ids_to_unified_symbols(make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    markets = {m.symbol: m for m in await adapter.list_markets()}
    assert markets["BTC/USD"].exchange_id == "tBTCUSD"
    assert markets["BTC/USDT"].exchange_id == "tBTCUST"  # Bitfinex's UST is Tether
    assert markets["AVAX/USD"].exchange_id == "tAVAX:USD"
    assert markets["BTC/USD"].min_amount == Decimal("0.00006")
    assert markets["BTC/USD"].max_amount == Decimal("2000")
    assert markets["BTC/USD"].amount_precision == Decimal("1e-8")
    assert markets["BTC/USD"].price_precision is None  # 5 significant digits, no fixed step


async def test_history_is_read_in_wire_order(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    """The real 15m fixture is served verbatim; close must not be mistaken for high."""
    rows = json.loads((DATA / "bitfinex_tBTCUSD_15m_2021-01-07.bfx-native.json").read_text())
    fake.load_rows("tBTCUSD", "15m", rows)
    fake.now_ms = rows[-1][0] + 15 * MINUTE_MS
    adapter = await make_adapter()
    candles = await adapter.fetch_candles("BTC/USD", Timeframe.M15, rows[0][0], limit=1000)
    assert len(candles) == len(rows) == 95
    first = rows[0]
    assert candles[0] == Candle(first[0], first[1], first[3], first[4], first[2], first[5])
    assert [c.time for c in candles] == [r[0] for r in rows]
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in candles)


async def test_history_paginates_and_skips_empty_minutes(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    start = T0 - 250 * MINUTE_MS
    rows = minute_rows(start, 250, skip=frozenset({7, 120, 121}))
    fake.load_rows("tBTCUSD", "1m", rows)
    adapter = await make_adapter(page_size=100)
    candles = await adapter.fetch_candles("BTC/USD", Timeframe.M1, start, T0 - MINUTE_MS, limit=10_000)
    assert [c.time for c in candles] == [r[0] for r in rows]
    hist = fake.requests_to("/v2/candles/trade:1m:tBTCUSD/hist")
    assert len(hist) == 3  # 100 + 100 + 47: the short page ends it
    assert all(r.query["limit"] == "100" and r.query["sort"] == "1" for r in hist)
    assert {r.query["end"] for r in hist} == {str(T0 - MINUTE_MS)}


async def test_history_respects_limit_and_leaves_out_the_forming_candle(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.load_rows("tBTCUSD", "1m", minute_rows(T0 - 5 * MINUTE_MS, 6))  # the last one, T0, is forming
    adapter = await make_adapter()
    everything = await adapter.fetch_candles("BTC/USD", Timeframe.M1, T0 - 10 * MINUTE_MS)
    assert [c.time for c in everything] == [T0 - i * MINUTE_MS for i in range(5, 0, -1)]
    first_two = await adapter.fetch_candles("BTC/USD", Timeframe.M1, T0 - 10 * MINUTE_MS, limit=2)
    assert first_two == everything[:2]


async def test_timeframes_bitfinex_lacks_are_rolled_up(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    start = T0 - 10 * MINUTE_MS  # a multiple of 3 minutes
    assert start % (3 * MINUTE_MS) == 0
    fake.load_rows("tBTCUSD", "1m", minute_rows(start, 9, skip=frozenset({4})))
    adapter = await make_adapter()
    candles = await adapter.fetch_candles("BTC/USD", Timeframe.M3, start, T0)
    assert [c.time for c in candles] == [start, start + 3 * MINUTE_MS, start + 6 * MINUTE_MS]
    middle = candles[1]
    assert (middle.open, middle.close) == (103.0, 105.0 + 5)  # minute 4 had no trades
    assert middle.volume == (1.0 + 3) + (1.0 + 5)


async def test_unknown_symbol_is_named(make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    with pytest.raises(ExchangeError, match=r"no market 'BTC/USDX'.*BTC/USD"):
        await adapter.fetch_candles("BTC/USDX", Timeframe.M1, T0)


async def test_balances_come_from_the_exchange_wallet(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.set_wallet(API_KEY, "USD", "1000.5")
    fake.set_wallet(API_KEY, "BTC", "0.5", available="0.4")
    fake.set_wallet(API_KEY, "UST", "25")
    fake.set_wallet(API_KEY, "USD", "5", kind="margin")
    adapter = await make_adapter()
    balances = await adapter.fetch_balances()
    assert balances["USD"].total == Decimal("1000.5")
    assert (balances["BTC"].total, balances["BTC"].free) == (Decimal("0.5"), Decimal("0.4"))
    assert balances["USDT"].total == Decimal("25")
    signed = fake.requests_to("/v2/auth/r/wallets")
    assert len(signed) == 1 and signed[0].method == "POST"


async def test_market_order_with_client_id_then_fetch_it(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.set_wallet(API_KEY, "USD", "1000")
    fake.set_price("tBTCUSD", "20000")
    adapter = await make_adapter()
    placed = await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.01"), client_order_id=4242)
    assert placed.client_order_id == 4242
    assert (placed.symbol, placed.side, placed.amount) == ("BTC/USD", OrderSide.BUY, Decimal("0.01"))
    assert placed.status is OrderStatus.OPEN  # the reply is the request notification
    submit = json.loads(fake.requests_to("/v2/auth/w/order/submit")[0].body)
    assert submit == {"symbol": "tBTCUSD", "amount": "0.01", "type": "EXCHANGE MARKET", "cid": 4242}

    by_id = await adapter.fetch_order("BTC/USD", order_id=placed.order_id)
    by_cid = await adapter.fetch_order("BTC/USD", client_order_id=4242)
    assert by_id is not None and by_id == by_cid
    assert by_id.status is OrderStatus.CLOSED
    assert by_id.filled == Decimal("0.01")
    assert by_id.average_price == Decimal("20000")
    assert (by_id.fee, by_id.fee_currency) == (Decimal("0.00002"), "BTC")  # 0.2% taker, in BTC
    balances = await adapter.fetch_balances()
    assert balances["BTC"].total == Decimal("0.00998")
    assert balances["USD"].total == Decimal("800")


async def test_sell_order_and_unknown_orders(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    fake.set_wallet(API_KEY, "ETH", "2")
    fake.set_price("tETHUSD", "1500")
    adapter = await make_adapter()
    placed = await adapter.place_market_order("ETH/USD", OrderSide.SELL, Decimal("1.5"), client_order_id=7)
    assert placed.side is OrderSide.SELL
    assert json.loads(fake.requests_to("/v2/auth/w/order/submit")[0].body)["amount"] == "-1.5"
    assert await adapter.fetch_order("ETH/USD", order_id="123") is None
    assert await adapter.fetch_order("ETH/USD", client_order_id=8) is None


async def test_open_orders_are_found_too(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    fake.fill_market_orders = False
    fake.set_wallet(API_KEY, "USD", "1000")
    fake.set_price("tBTCUSD", "20000")
    adapter = await make_adapter()
    placed = await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.01"), client_order_id=99)
    found = await adapter.fetch_order("BTC/USD", order_id=placed.order_id)
    assert found is not None and found.status is OrderStatus.OPEN and found.filled == 0
    assert await adapter.fetch_order("BTC/USD", client_order_id=99) == found


async def test_order_refusals_become_domain_errors(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    fake.set_wallet(API_KEY, "USD", "100")
    fake.set_price("tBTCUSD", "20000")
    adapter = await make_adapter()
    with pytest.raises(InsufficientFunds, match="not enough exchange balance"):
        await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.01"), client_order_id=1)
    with pytest.raises(InvalidOrder, match=r"Bitfinex refused the order.*minimum size for BTC/USD"):
        await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.00001"), client_order_id=2)
    with pytest.raises(InvalidOrder, match="no market 'DOGE/USD'"):
        await adapter.place_market_order("DOGE/USD", OrderSide.BUY, Decimal("1"), client_order_id=3)
    with pytest.raises(InvalidOrder, match="int45"):
        await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.001"), client_order_id=2**45)
    with pytest.raises(InvalidOrder, match="must be positive"):
        await adapter.place_market_order("BTC/USD", OrderSide.SELL, Decimal("0"), client_order_id=4)


async def test_wrong_api_key_is_reported_clearly(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    wrong_secret = await make_adapter(secret="not-the-secret")
    with pytest.raises(AuthenticationFailed, match=r"^Bitfinex rejected the API key: apikey: digest invalid"):
        await wrong_secret.fetch_balances()
    unknown_key = await make_adapter(api_key="someone-else")
    with pytest.raises(AuthenticationFailed, match=r"^Bitfinex rejected the API key: apikey: invalid"):
        await unknown_key.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.001"), client_order_id=5)


async def test_a_stale_nonce_is_explained(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    fake.accounts[API_KEY].last_nonce = 10**18  # another client used the key with a larger nonce
    adapter = await make_adapter()
    with pytest.raises(AuthenticationFailed, match=r"nonce.*same API key"):
        await adapter.fetch_balances()


async def test_rate_limit_mode_backs_off_then_succeeds(
    fake: FakeBitfinex, make_adapter: AdapterFactory, limiter: RateLimiter
) -> None:
    fake.load_rows("tBTCUSD", "1m", minute_rows(T0 - 3 * MINUTE_MS, 3))
    adapter = await make_adapter()
    await adapter.list_markets()
    fake.rate_limit(2)
    candles = await adapter.fetch_candles("BTC/USD", Timeframe.M1, T0 - 3 * MINUTE_MS)
    assert len(candles) == 3
    assert len(fake.requests_to("/v2/candles/")) == 3  # two refused, then the answer
    bucket = limiter.get("bitfinex:candles")
    assert bucket is not None and bucket.paused_until > 0  # everyone using the bucket cooled down


async def test_rate_limit_that_persists_gives_up(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    await adapter.list_markets()
    fake.rate_limit(10)
    with pytest.raises(ExchangeUnavailable, match="Bitfinex rate-limited us"):
        await adapter.fetch_candles("BTC/USD", Timeframe.M1, T0 - 3 * MINUTE_MS)
    assert len(fake.requests_to("/v2/candles/")) == 3


async def test_maintenance_is_unavailable(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    await adapter.list_markets()
    fake.rest_maintenance = True
    with pytest.raises(ExchangeUnavailable, match="maintenance"):
        await adapter.fetch_balances()


async def test_requests_respect_the_candle_budget(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    """A bucket of 1 token refilled every 50 ms: four pages take at least 150 ms."""
    fake.load_rows("tBTCUSD", "1m", minute_rows(T0 - 8 * MINUTE_MS, 8))
    limiter = RateLimiter()
    limiter.bucket("bitfinex:candles", BucketSpec(per_minute=1201, burst=1))  # first asker sets the spec
    adapter = await make_adapter(limiter=limiter, page_size=2)
    await adapter.list_markets()
    loop = asyncio.get_running_loop()
    started = loop.time()
    candles = await adapter.fetch_candles("BTC/USD", Timeframe.M1, T0 - 8 * MINUTE_MS, limit=8)
    assert len(candles) == 8
    assert len(fake.requests_to("/v2/candles/")) == 4
    assert loop.time() - started >= 0.14


async def test_urls_point_only_at_the_fake(fake: FakeBitfinex, make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    api = adapter.exchange.urls["api"]
    assert api == {"v1": fake.rest_url, "public": fake.rest_url, "private": fake.rest_url}
    assert adapter.endpoints.ws == fake.ws_url
    await adapter.list_markets()
    conf = fake.requests_to("/v2/conf/")
    assert len(conf) == 2 and any("pub:info:pair" in r.path for r in conf)


async def test_without_overrides_the_real_host_is_used(limiter: RateLimiter) -> None:
    """The loopback guard proves the test setup cannot leak: the real host is refused."""
    adapter = BitfinexAdapter(env={}, limits=TEST_LIMITS, limiter=limiter)
    try:
        assert adapter.exchange.urls["api"]["public"] == "https://api-pub.bitfinex.com"
        with pytest.raises(ExchangeUnavailable, match="cannot be reached"):
            await adapter.list_markets()
    finally:
        await adapter.close()
