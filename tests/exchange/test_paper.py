"""Paper trading: exact fills, idempotent client ids, rejections that change nothing, the adapter."""

from __future__ import annotations

import decimal
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, UpdateSource
from tradewinds.domain.timeframes import Timeframe
from tradewinds.exchange.adapter import (
    Balance,
    ExchangeAdapter,
    InsufficientFunds,
    InvalidOrder,
    MarketInfo,
    OrderReport,
    OrderSide,
    OrderStatus,
)
from tradewinds.exchange.paper import DuplicateClientOrderId, PaperAccount, PaperTradingAdapter

BUY, SELL = OrderSide.BUY, OrderSide.SELL
BTC_USD = MarketInfo(
    symbol="BTC/USD",
    exchange_id="tBTCUSD",
    base="BTC",
    quote="USD",
    amount_precision=Decimal("0.0001"),
    min_amount=Decimal("0.001"),
)
ETH_USD = MarketInfo(symbol="ETH/USD", exchange_id="tETHUSD", base="ETH", quote="USD")
NOW = 1_700_000_000_000


def account(
    balances: dict[str, Decimal] | None = None,
    *,
    fee_rate: Decimal = Decimal("0.001"),
    slippage: Decimal = Decimal("0.002"),
    price: Decimal | None = Decimal("20000"),
) -> PaperAccount:
    paper = PaperAccount(
        balances if balances is not None else {"USD": Decimal("10000")},
        [BTC_USD, ETH_USD],
        fee_rate=fee_rate,
        slippage=slippage,
        now_ms=lambda: NOW,
    )
    if price is not None:
        paper.update_price("BTC/USD", price)
    return paper


def snapshot(paper: PaperAccount) -> tuple[dict[str, Balance], tuple[OrderReport, ...], int]:
    return paper.balances(), paper.orders, len(paper.fills)


def test_buy_pays_price_plus_slippage_and_the_fee_in_base() -> None:
    paper = account()
    report = paper.place_market_order("BTC/USD", BUY, Decimal("0.25"), client_order_id=1)
    # 20000 * 1.002 = 20040; 0.25 * 20040 = 5010 USD; fee 0.001 * 0.25 = 0.00025 BTC
    assert report.average_price == Decimal("20040")
    assert report.fee == Decimal("0.00025")
    assert report.fee_currency == "BTC"
    assert (report.amount, report.filled, report.status) == (
        Decimal("0.25"),
        Decimal("0.25"),
        OrderStatus.CLOSED,
    )
    assert report.client_order_id == 1
    assert report.timestamp_ms == NOW
    assert paper.balance("USD") == Decimal("4990")
    assert paper.balance("BTC") == Decimal("0.24975")
    (fill,) = paper.fills
    assert (fill.price, fill.reference_price, fill.cost) == (
        Decimal("20040"),
        Decimal("20000"),
        Decimal("5010"),
    )
    assert fill.slippage_cost == Decimal("10")


def test_sell_receives_price_minus_slippage_less_the_fee() -> None:
    paper = account({"BTC": Decimal("1"), "USD": Decimal("0")})
    report = paper.place_market_order("BTC/USD", SELL, Decimal("0.5"), client_order_id=7)
    # 20000 * 0.998 = 19960; 0.5 * 19960 = 9980; fee 9.98
    assert report.average_price == Decimal("19960")
    assert report.fee == Decimal("9.98")
    assert paper.balance("USD") == Decimal("9970.02")
    assert paper.balance("BTC") == Decimal("0.5")
    balances = paper.balances()
    assert balances["USD"] == Balance("USD", Decimal("9970.02"), Decimal("9970.02"))


def test_cash_buys_c_times_one_minus_f_over_p_and_sells_for_u_p_one_minus_f() -> None:
    """The backtest's fee convention, so a paper account and a backtest agree to the cent."""
    paper = account({"USD": Decimal("1000")}, fee_rate=Decimal("0.001"), slippage=Decimal(0))
    paper.update_price("ETH/USD", Decimal("2000"))  # ETH/USD has no amount step
    paper.place_market_order("ETH/USD", BUY, Decimal("0.5"), client_order_id=1)  # all 1000 USD
    assert paper.balance("USD") == 0
    assert paper.balance("ETH") == Decimal(1000) * Decimal("0.999") / Decimal(2000)
    paper.place_market_order("ETH/USD", SELL, Decimal("0.4995"), client_order_id=2)
    assert paper.balance("ETH") == 0
    assert paper.balance("USD") == Decimal("0.4995") * 2000 * Decimal("0.999")


def test_amount_is_rounded_down_to_the_market_step() -> None:
    paper = account(slippage=Decimal(0), fee_rate=Decimal(0))
    report = paper.place_market_order("BTC/USD", BUY, Decimal("0.12345678"), client_order_id=1)
    assert report.amount == Decimal("0.1234")
    assert paper.balance("BTC") == Decimal("0.1234")
    assert paper.balance("USD") == Decimal("10000") - Decimal("0.1234") * 20000


def test_a_client_order_id_trades_once() -> None:
    paper = account()
    first = paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=42)
    after_first = snapshot(paper)
    paper.update_price("BTC/USD", Decimal("30000"))
    again = paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=42)
    assert again == first
    assert snapshot(paper) == after_first
    assert len(paper.orders) == 1


def test_a_reused_client_order_id_for_another_order_is_refused() -> None:
    """Issue 8 item 4: a SELL of 3 ETH with the id of a BTC buy must not return the buy as filled."""
    paper = account({"USD": Decimal("10000")})
    paper.update_price("ETH/USD", Decimal("1500"))
    first = paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=7)
    before = snapshot(paper)
    with pytest.raises(DuplicateClientOrderId) as caught:
        paper.place_market_order("ETH/USD", SELL, Decimal("3"), client_order_id=7)
    message = str(caught.value)
    assert "client order id 7" in message and "buy of 0.1 BTC/USD" in message
    assert "symbol BTC/USD (now ETH/USD)" in message and "side buy (now sell)" in message
    assert "amount 0.1 (now 3)" in message
    assert snapshot(paper) == before
    assert paper.fetch_order("ETH/USD", client_order_id=7) is None
    assert paper.fetch_order("BTC/USD", client_order_id=7) == first
    with pytest.raises(DuplicateClientOrderId, match=r"differs in amount 0.1 \(now 0.2\)"):
        paper.place_market_order("BTC/USD", BUY, Decimal("0.2"), client_order_id=7)
    assert snapshot(paper) == before


def test_an_account_rebuilt_from_its_fills_has_the_same_balances() -> None:
    paper = account({"USD": Decimal("10000")})
    paper.place_market_order("BTC/USD", BUY, Decimal("0.3"), client_order_id=1)
    paper.update_price("BTC/USD", Decimal("21000"))
    paper.place_market_order("BTC/USD", SELL, Decimal("0.1234"), client_order_id=2)
    rebuilt = account({"USD": Decimal("10000")})
    for fill in paper.fills:
        rebuilt.restore_fill(
            fill.symbol, fill.side, fill.amount, fill.price, fill.fee, fill.fee_currency, fill.client_order_id
        )
    assert rebuilt.balances() == paper.balances()
    # The restored ids are used: the same order is not placed again, another one is refused.
    assert rebuilt.place_market_order(
        "BTC/USD", SELL, Decimal("0.1234"), client_order_id=2
    ).filled == Decimal("0.1234")
    assert rebuilt.balances() == paper.balances()
    with pytest.raises(DuplicateClientOrderId):
        rebuilt.place_market_order("BTC/USD", BUY, Decimal("1"), client_order_id=1)


def test_order_ids_are_distinct_and_orders_are_found_by_either_id() -> None:
    paper = account()
    one = paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=1)
    two = paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=2)
    assert one.order_id != two.order_id
    assert paper.fetch_order("BTC/USD", order_id=two.order_id) == two
    assert paper.fetch_order("BTC/USD", client_order_id=1) == one
    assert paper.fetch_order(order_id=one.order_id) == one
    assert paper.fetch_order("ETH/USD", order_id=one.order_id) is None
    assert paper.fetch_order("BTC/USD", client_order_id=3) is None
    assert paper.fetch_order("BTC/USD", order_id="nope") is None
    assert paper.orders == (one, two)
    with pytest.raises(ValueError):
        paper.fetch_order("BTC/USD")


def test_insufficient_quote_names_currency_need_and_have_and_changes_nothing() -> None:
    paper = account({"USD": Decimal("1000")})
    before = snapshot(paper)
    with pytest.raises(InsufficientFunds) as caught:
        paper.place_market_order("BTC/USD", BUY, Decimal("0.05"), client_order_id=5)
    # 0.05 * 20040 = 1002 (the fee is taken in BTC)
    message = str(caught.value)
    assert "USD" in message and "need 1002" in message and "have 1000" in message
    assert snapshot(paper) == before
    # The rejected client id was not used up: a smaller order with it trades.
    report = paper.place_market_order("BTC/USD", BUY, Decimal("0.04"), client_order_id=5)
    assert report.filled == Decimal("0.04")


def test_a_buy_needs_its_cost_and_the_fee_comes_out_of_the_base() -> None:
    paper = account({"USD": Decimal("2003.99")})
    with pytest.raises(InsufficientFunds):
        paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=1)
    paper = account({"USD": Decimal("2004")})
    paper.place_market_order("BTC/USD", BUY, Decimal("0.1"), client_order_id=1)
    assert paper.balance("USD") == 0
    assert paper.balance("BTC") == Decimal("0.0999")


def test_insufficient_base_for_a_sell_changes_nothing() -> None:
    paper = account({"USD": Decimal("10"), "BTC": Decimal("0.3")})
    before = snapshot(paper)
    with pytest.raises(InsufficientFunds) as caught:
        paper.place_market_order("BTC/USD", SELL, Decimal("0.3001"), client_order_id=1)
    message = str(caught.value)
    assert "BTC" in message and "0.3001" in message and "have 0.3" in message
    assert snapshot(paper) == before


@pytest.mark.parametrize(
    ("symbol", "amount", "words"),
    [
        ("BTC/USD", Decimal("0"), "positive"),
        ("BTC/USD", Decimal("-1"), "positive"),
        ("BTC/USD", Decimal("NaN"), "positive"),
        ("BTC/USD", Decimal("0.00005"), "step"),
        ("BTC/USD", Decimal("0.0005"), "at least 0.001"),
        ("DOGE/USD", Decimal("1"), "DOGE/USD"),
        ("ETH/USD", Decimal("1"), "no price"),
    ],
)
def test_invalid_orders_are_rejected_and_change_nothing(symbol: str, amount: Decimal, words: str) -> None:
    paper = account()
    before = snapshot(paper)
    with pytest.raises(InvalidOrder, match=words):
        paper.place_market_order(symbol, BUY, amount, client_order_id=1)
    assert snapshot(paper) == before


def test_without_markets_any_symbol_trades_and_a_malformed_one_is_refused() -> None:
    paper = PaperAccount({"EUR": Decimal("100")}, fee_rate=Decimal(0))
    paper.update_price("ETH/EUR", 50.5)
    paper.place_market_order("ETH/EUR", BUY, Decimal("1.5"), client_order_id=1)
    assert paper.balance("EUR") == Decimal("24.25")
    assert paper.balance("ETH") == Decimal("1.5")
    paper.update_price("ETHEUR", 1)
    with pytest.raises(InvalidOrder, match="not a market symbol"):
        paper.place_market_order("ETHEUR", BUY, Decimal("1"), client_order_id=2)


def test_the_price_source_comes_first_and_the_last_update_is_the_fallback() -> None:
    quoted: dict[str, Decimal] = {}
    paper = PaperAccount({"USD": Decimal("1000")}, [ETH_USD], fee_rate=Decimal(0), price_source=quoted.get)
    paper.update_price("ETH/USD", Decimal("100"))
    assert paper.latest_price("ETH/USD") == Decimal("100")
    quoted["ETH/USD"] = Decimal("200")
    report = paper.place_market_order("ETH/USD", BUY, Decimal("1"), client_order_id=1)
    assert report.average_price == Decimal("200")


def test_constructor_refuses_bad_settings() -> None:
    with pytest.raises(ValueError):
        PaperAccount({"USD": Decimal("-1")})
    with pytest.raises(ValueError):
        PaperAccount({}, fee_rate=Decimal("1"))
    with pytest.raises(ValueError):
        PaperAccount({}, slippage=Decimal("-0.1"))
    with pytest.raises(ValueError):
        PaperAccount({}).update_price("BTC/USD", 0)


# ----------------------------------------------------------------------------- property

_order = st.tuples(
    st.sampled_from([BUY, SELL, None]),  # None: the price moves
    st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("2"), places=5),
    st.decimals(min_value=Decimal("100"), max_value=Decimal("60000"), places=2),
)


@settings(max_examples=200, deadline=None)
@given(
    orders=st.lists(_order, max_size=25),
    fee_rate=st.sampled_from([Decimal(0), Decimal("0.001"), Decimal("0.0025")]),
    slippage=st.sampled_from([Decimal(0), Decimal("0.0005"), Decimal("0.01")]),
)
def test_orders_never_make_a_balance_negative_and_value_moves_only_by_costs(
    orders: list[tuple[OrderSide | None, Decimal, Decimal]], fee_rate: Decimal, slippage: Decimal
) -> None:
    paper = account({"USD": Decimal("5000"), "BTC": Decimal("0.2")}, fee_rate=fee_rate, slippage=slippage)
    price = Decimal("20000")

    def value() -> Decimal:
        return paper.balance("USD") + paper.balance("BTC") * price

    with decimal.localcontext(prec=60):
        for cid, (side, amount, new_price) in enumerate(orders):
            if side is None:
                price = new_price
                paper.update_price("BTC/USD", price)
                continue
            before, books = value(), snapshot(paper)
            try:
                paper.place_market_order("BTC/USD", side, amount, cid)
            except (InvalidOrder, InsufficientFunds):
                assert snapshot(paper) == books
                continue
            fill = paper.fills[-1]
            assert fill.client_order_id == cid
            assert fill.amount <= amount
            fee_value = fill.fee * price if fill.fee_currency == "BTC" else fill.fee
            assert before - value() == fee_value + fill.slippage_cost
            assert all(b.total >= 0 and b.free >= 0 for b in paper.balances().values())
        assert len(paper.fills) == len(paper.orders)


# ----------------------------------------------------------------------------- the adapter


class FakeFeed:
    """A feed adapter that streams given updates and serves given candles."""

    def __init__(self, updates: list[CandleUpdate]) -> None:
        self.name = "fakefeed"
        self.updates = updates
        self.fetched: list[tuple[str, Timeframe, int, int | None, int]] = []
        self.market_loads = 0
        self.closed = False

    async def list_markets(self) -> list[MarketInfo]:
        self.market_loads += 1
        return [BTC_USD]

    def stream_candles(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate]:
        return self._stream(list(symbols))

    async def _stream(self, symbols: list[str]) -> AsyncIterator[CandleUpdate]:
        for update in self.updates:
            if update.symbol in symbols:
                yield update

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since_ms: int, until_ms: int | None = None, limit: int = 1000
    ) -> list[Candle]:
        self.fetched.append((symbol, timeframe, since_ms, until_ms, limit))
        return [Candle(since_ms, 1, 2, 0.5, 1.5, 10)]

    async def fetch_balances(self) -> dict[str, Balance]:
        raise AssertionError("the paper adapter must not ask the feed for balances")

    async def place_market_order(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport:
        raise AssertionError("the paper adapter must not send orders to the feed")

    async def fetch_order(
        self, symbol: str, order_id: str | None = None, client_order_id: int | None = None
    ) -> OrderReport | None:
        raise AssertionError("the paper adapter must not ask the feed for orders")

    async def close(self) -> None:
        self.closed = True


def _update(minute: int, close: float, source: UpdateSource = UpdateSource.LIVE) -> CandleUpdate:
    time = NOW + minute * 60_000
    return CandleUpdate("fakefeed", "BTC/USD", Candle(time, close, close, close, close, 1.0), source=source)


async def test_paper_adapter_streams_the_feed_and_prices_orders_from_it() -> None:
    updates = [_update(0, 100.0), _update(1, 101.5), _update(0, 99.0, UpdateSource.BACKFILL)]
    feed = FakeFeed(updates)
    paper = PaperAccount({"USD": Decimal("1000")}, fee_rate=Decimal(0))
    adapter = PaperTradingAdapter(feed, paper)
    assert isinstance(adapter, ExchangeAdapter)
    assert adapter.name == "fakefeed"
    seen = [u async for u in adapter.stream_candles(["BTC/USD"])]
    assert seen == updates
    # The re-sent older minute (99.0) does not replace the newer price.
    assert paper.latest_price("BTC/USD") == Decimal("101.5")
    report = await adapter.place_market_order("BTC/USD", BUY, Decimal("2"), client_order_id=9)
    assert report.average_price == Decimal("101.5")
    assert await adapter.fetch_order("BTC/USD", client_order_id=9) == report
    assert (await adapter.fetch_balances())["USD"].free == Decimal("797")


async def test_paper_adapter_takes_market_rules_from_the_feed_once() -> None:
    feed = FakeFeed([])
    paper = PaperAccount({"USD": Decimal("1000")})
    paper.update_price("BTC/USD", 10)
    paper.update_price("ETH/USD", 10)
    adapter = PaperTradingAdapter(feed, paper)
    with pytest.raises(InvalidOrder, match="ETH/USD"):
        await adapter.place_market_order("ETH/USD", BUY, Decimal("1"), client_order_id=1)
    with pytest.raises(InvalidOrder, match="at least"):
        await adapter.place_market_order("BTC/USD", BUY, Decimal("0.0001"), client_order_id=2)
    await adapter.place_market_order("BTC/USD", BUY, Decimal("1"), client_order_id=3)
    assert feed.market_loads == 1
    assert await adapter.list_markets() == [BTC_USD]


async def test_paper_adapter_delegates_history_and_close() -> None:
    feed = FakeFeed([])
    adapter = PaperTradingAdapter(feed, PaperAccount({}))
    candles = await adapter.fetch_candles("BTC/USD", Timeframe.M5, NOW, NOW + 600_000, 7)
    assert candles == [Candle(NOW, 1, 2, 0.5, 1.5, 10)]
    assert feed.fetched == [("BTC/USD", Timeframe.M5, NOW, NOW + 600_000, 7)]
    await adapter.close()
    assert feed.closed
