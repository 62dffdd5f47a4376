"""Bitfinex orders: finding an order by cid and day (issue 8 item 4), and the execution service
against the fake Bitfinex: lost replies, cut-off submits, insufficient funds, a refused key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import nats
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.exchange.conftest import API_KEY, API_SECRET, T0, TEST_LIMITS, AdapterFactory
from tests.exchange.execution.helpers import make_intent, seed_assignment
from tests.exchange.execution.test_service_paper import publish_intent, wait_for
from tests.exchange.fake_bitfinex import FakeBitfinex
from tradewinds.domain.ledger import replay
from tradewinds.exchange.adapter import OrderSide, OrderStatus
from tradewinds.exchange.bitfinex import BitfinexAdapter
from tradewinds.exchange.ccxt_adapter import CcxtAdapter
from tradewinds.exchange.execution.executor import ExecutionSettings
from tradewinds.exchange.execution.service import ExecutionService, ServiceSettings
from tradewinds.exchange.ratelimit import RateLimiter
from tradewinds.storage.orders import fills_of_assignment, list_orders
from tradewinds.storage.secrets import SecretBox
from tradewinds.storage.trading_models import TradingAccountRow

DAY = 24 * 3600 * 1000
FAST = ServiceSettings(
    execution=ExecutionSettings(retry_delay_s=0.01, fill_wait_s=1.0, poll_interval_s=0.01), retry_delay_s=0.2
)


# ----------------------------------------------------------------------------- lookups (issue 8.4)


async def test_a_cid_is_found_on_the_day_it_was_used(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    """Bitfinex's cid is unique per UTC day only: the same cid a day later is another order."""
    fake.set_wallet(API_KEY, "USD", "10000")
    fake.set_price("tBTCUSD", "20000")
    adapter = await make_adapter()
    day_one = fake.now_ms
    bought = await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.1"), client_order_id=77)
    fake.now_ms = day_one + DAY
    sold = await adapter.place_market_order("BTC/USD", OrderSide.SELL, Decimal("0.05"), client_order_id=77)
    first = await adapter.fetch_order("BTC/USD", client_order_id=77, placed_day="2023-11-14")
    second = await adapter.fetch_order("BTC/USD", client_order_id=77, placed_day="2023-11-15")
    assert first is not None and (first.order_id, first.side) == (bought.order_id, OrderSide.BUY)
    assert second is not None and (second.order_id, second.side) == (sold.order_id, OrderSide.SELL)
    assert await adapter.fetch_order("BTC/USD", client_order_id=77, placed_day="2023-11-16") is None


async def test_the_history_is_paged_back_to_an_order_placed_before_a_restart(
    fake: FakeBitfinex, make_adapter: AdapterFactory
) -> None:
    fake.set_wallet(API_KEY, "USD", "10000")
    fake.set_price("tBTCUSD", "20000")
    adapter = await make_adapter()
    placed = await adapter.place_market_order("BTC/USD", OrderSide.BUY, Decimal("0.01"), client_order_id=5)
    # 3,000 later orders (more than one history page of 2,500) bury it.
    account = fake.accounts[API_KEY]
    template = account.orders[-1]
    for i in range(3000):
        later = list(template)
        later[0], later[2], later[4], later[5] = (
            60_000_000 + i,
            None,
            fake.now_ms + i + 10,
            fake.now_ms + i + 10,
        )
        account.orders.append(later)
    found = await adapter.fetch_order("BTC/USD", client_order_id=5, placed_day="2023-11-14")
    assert found is not None and found.order_id == placed.order_id and found.status is OrderStatus.CLOSED
    pages = fake.requests_to("/v2/auth/r/orders/tBTCUSD/hist")
    assert len(pages) == 2


# ----------------------------------------------------------------------------- the service


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.drain()


class Trading:
    """The execution service for Bitfinex with an exchange account on the fake."""

    def __init__(self, fake: FakeBitfinex, engine: AsyncEngine, bus: Any, limiter: RateLimiter) -> None:
        self.fake = fake
        self.engine = engine
        self.bus = bus
        self.box = SecretBox([Fernet.generate_key()], "test key")
        self.limiter = limiter
        self.feed = self.adapter(None, None)
        self.service: ExecutionService | None = None

    def adapter(self, key: str | None, secret: str | None) -> BitfinexAdapter:
        adapter = BitfinexAdapter(
            key, secret, limits=TEST_LIMITS, limiter=self.limiter, env=self.fake.env(),
            now_ms=lambda: self.fake.now_ms, timeout_ms=2000,
        )  # fmt: skip
        adapter.exchange.timeout_on_exit = 0
        return adapter

    async def start(self) -> ExecutionService:
        self.service = ExecutionService(
            self.bus,
            self.engine,
            "bitfinex",
            self.feed,
            secrets=self.box,
            adapter_factory=lambda _exchange, key, secret, _passphrase: self.adapter(key, secret),
            settings=FAST,
            now_ms=lambda: self.fake.now_ms,
        )
        await self.service.start()
        return self.service

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
        await self.feed.close()


@pytest.fixture
async def trading(
    fake: FakeBitfinex, engine: AsyncEngine, bus: Any, limiter: RateLimiter
) -> AsyncIterator[Trading]:
    fake.set_price("tBTCUSD", "20000")
    setup = Trading(fake, engine, bus, limiter)
    yield setup
    await setup.stop()


async def orders_settled(engine: AsyncEngine, assignment_id: int, count: int) -> bool:
    orders = await list_orders(engine, assignment_id=assignment_id)
    return len(orders) >= count and all(o.status not in ("pending", "open") for o in orders)


async def test_a_lost_reply_is_found_and_recorded_without_a_second_order(trading: Trading) -> None:
    fake = trading.fake
    fake.set_wallet(API_KEY, "USD", "2000")
    assignment = await seed_assignment(
        trading.engine,
        exchange="bitfinex",
        symbol="BTC/USD",
        allocation="1000",
        keys=(trading.box, API_KEY, API_SECRET),
    )
    fake.lose_replies = 1
    await trading.start()
    await publish_intent(trading.bus, make_intent(assignment, "long", T0, 20000.0))
    await wait_for(lambda: orders_settled(trading.engine, assignment.id, 1))
    await asyncio.sleep(0.2)
    orders = await list_orders(trading.engine, assignment_id=assignment.id)
    executed = fake.executed_orders(API_KEY)
    # Each leg reached the exchange once (a second leg spends what the first kept back for the fee).
    assert (len(executed), len(orders), len(fake.requests_to("/v2/auth/w/order/submit"))) == (2, 2, 2), orders
    assert [o.status for o in orders] == ["filled"] * len(orders)
    assert [o.exchange_order_id for o in orders] == [str(e[0]) for e in executed]
    assert [o.client_order_id for o in orders] == [e[2] for e in executed]
    assert orders[0].error is None  # found and filled: the lost reply is no longer an error
    # 1000 USD at 20000, 0.5% kept back for the venue's fee check: 0.04975124 BTC, fee 0.2% in BTC.
    assert orders[0].filled == Decimal("0.04975124")
    assert (orders[0].fee_currency, orders[0].fee) == ("BTC", Decimal("0.04975124") * Decimal("0.002"))
    book = replay(Decimal(1000), "BTC", "USD", await fills_of_assignment(trading.engine, assignment.id))
    wallet_btc = fake.accounts[API_KEY].wallets[("exchange", "BTC")][0]
    assert book.base == wallet_btc  # the recorded position is what the exchange says was filled
    spent = Decimal(1000) - book.quote
    assert fake.accounts[API_KEY].wallets[("exchange", "USD")][0] == Decimal(2000) - spent


async def test_a_submit_cut_off_before_it_executed_is_sent_again_once(trading: Trading) -> None:
    fake = trading.fake
    fake.set_wallet(API_KEY, "USD", "2000")
    assignment = await seed_assignment(
        trading.engine,
        exchange="bitfinex",
        symbol="BTC/USD",
        allocation="1000",
        keys=(trading.box, API_KEY, API_SECRET),
    )
    fake.drop_submits = 1
    await trading.start()
    await publish_intent(trading.bus, make_intent(assignment, "long", T0, 20000.0))
    await wait_for(lambda: orders_settled(trading.engine, assignment.id, 1))
    await asyncio.sleep(0.2)
    orders = await list_orders(trading.engine, assignment_id=assignment.id)
    assert [o.status for o in orders] == ["filled"] * len(orders)
    submits = fake.requests_to("/v2/auth/w/order/submit")
    assert len(submits) == len(orders) + 1
    assert submits[0].body == submits[1].body  # the cut-off order was sent again with the same cid
    assert len(fake.executed_orders(API_KEY)) == len(orders)


async def test_insufficient_funds_is_recorded_and_not_retried(trading: Trading) -> None:
    fake = trading.fake
    fake.set_wallet(API_KEY, "USD", "2000")
    assignment = await seed_assignment(
        trading.engine,
        exchange="bitfinex",
        symbol="BTC/USD",
        allocation="1000",
        keys=(trading.box, API_KEY, API_SECRET),
    )
    await trading.start()
    fake.set_price("tBTCUSD", "25000")  # the price jumped after the decision: 1000 USD no longer suffice
    fake.set_wallet(API_KEY, "USD", "1000")
    await publish_intent(trading.bus, make_intent(assignment, "long", T0, 20000.0))
    await wait_for(lambda: orders_settled(trading.engine, assignment.id, 1))
    await asyncio.sleep(0.3)
    (order,) = await list_orders(trading.engine, assignment_id=assignment.id)
    assert order.status == "rejected"
    assert order.error is not None and "not enough" in order.error
    assert len(fake.requests_to("/v2/auth/w/order/submit")) == 1
    assert fake.executed_orders(API_KEY) == []


async def test_a_refused_key_fails_the_order_and_pauses_the_account(trading: Trading) -> None:
    assignment = await seed_assignment(
        trading.engine,
        exchange="bitfinex",
        symbol="BTC/USD",
        allocation="1000",
        keys=(trading.box, API_KEY, "wrong"),
    )
    trading.fake.set_wallet(API_KEY, "USD", "2000")
    await trading.start()
    await publish_intent(trading.bus, make_intent(assignment, "long", T0, 20000.0))
    await wait_for(lambda: orders_settled(trading.engine, assignment.id, 1))
    (order,) = await list_orders(trading.engine, assignment_id=assignment.id)
    assert order.status in ("failed", "canceled")
    async with AsyncSession(trading.engine) as session:
        account = await session.get(TradingAccountRow, assignment.account_id)
        assert account is not None and account.paused_reason is not None
        assert "rejected the API key" in account.paused_reason
    assert "wrong" not in (order.error or "")


async def test_maintenance_leaves_the_intent_for_later_and_it_trades_once_after(trading: Trading) -> None:
    fake = trading.fake
    fake.set_wallet(API_KEY, "USD", "2000")
    assignment = await seed_assignment(
        trading.engine,
        exchange="bitfinex",
        symbol="BTC/USD",
        allocation="1000",
        keys=(trading.box, API_KEY, API_SECRET),
    )
    await trading.start()
    fake.rest_maintenance = True
    await publish_intent(trading.bus, make_intent(assignment, "long", T0, 20000.0))
    await asyncio.sleep(1.5)  # several deliveries meet the maintenance
    assert fake.executed_orders(API_KEY) == []
    assert all(o.status == "pending" for o in await list_orders(trading.engine, assignment_id=assignment.id))
    fake.rest_maintenance = False
    await wait_for(lambda: orders_settled(trading.engine, assignment.id, 1))
    await asyncio.sleep(0.3)
    orders = await list_orders(trading.engine, assignment_id=assignment.id)
    assert [o.status for o in orders] == ["filled"] * len(orders)
    assert len(fake.executed_orders(API_KEY)) == len(orders)
    assert trading.service is not None and trading.service.counters.retried >= 1


async def test_a_generic_ccxt_lookup_asks_for_orders_since_the_day_before(
    fake: FakeBitfinex, limiter: RateLimiter
) -> None:
    """Venues that list orders from a start time (most, oldest first) then reach an order placed
    before a restart, not only the newest page."""
    fake.set_wallet(API_KEY, "USD", "500")
    fake.set_price("tBTCUSD", "100")
    generic = CcxtAdapter(
        "bitfinex",
        API_KEY,
        API_SECRET,
        limits=TEST_LIMITS,
        limiter=limiter,
        env=fake.env(),
        now_ms=lambda: fake.now_ms,
    )
    generic.exchange.timeout_on_exit = 0
    try:
        await generic.place_market_order("BTC/USD", OrderSide.BUY, Decimal("1"), client_order_id=78)
        found = await generic.fetch_order("BTC/USD", client_order_id=78, placed_day="2023-11-14")
        assert found is not None and found.client_order_id == 78
        (history,) = fake.requests_to("/v2/auth/r/orders/tBTCUSD/hist")
        assert json.loads(history.body)["start"] == 1_699_833_600_000  # 2023-11-13T00:00Z
    finally:
        await generic.close()
