"""The slice ledger: positions, fees and average-cost P&L replayed from fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.domain.ledger import LedgerError, LedgerFill, SliceBook, equity, replay, unrealized_pnl

D = Decimal


def paper_buy(cash: Decimal, price: Decimal, fee_rate: Decimal, time_ms: int = 0) -> LedgerFill:
    """The backtest's convention: cash C buys C/P gross units, the fee f·C/P taken in base."""
    amount = cash / price
    return LedgerFill("buy", amount, price, amount * fee_rate, "BTC", time_ms)


def paper_sell(units: Decimal, price: Decimal, fee_rate: Decimal, time_ms: int = 0) -> LedgerFill:
    """U units sell for U·P, the fee f·U·P taken in quote."""
    return LedgerFill("sell", units, price, units * price * fee_rate, "USD", time_ms)


def test_no_fills_is_the_allocation_in_cash() -> None:
    book = replay(D("1000"), "BTC", "USD", [])
    assert book == SliceBook(base=D(0), quote=D("1000"), fees=D(0), realized_pnl=D(0), cost_basis=D(0))
    assert book.position == "short"
    assert unrealized_pnl(book, D("123")) == 0
    assert equity(book, D("123")) == D("1000")


def test_round_trip_at_one_price_leaves_cash_times_one_minus_fee_squared() -> None:
    cash, price, fee = D("1000"), D("250"), D("0.001")
    bought = replay(cash, "BTC", "USD", [paper_buy(cash, price, fee)])
    assert bought.base == D("3.996")  # 1000 (1 - 0.001) / 250
    assert bought.quote == 0
    assert bought.cost_basis == cash
    assert bought.fees == D("1.000")
    assert bought.position == "long"
    book = replay(cash, "BTC", "USD", [paper_buy(cash, price, fee), paper_sell(bought.base, price, fee)])
    assert book.base == 0
    assert book.quote == cash * (1 - fee) ** 2 == D("998.001")
    assert book.fees == D("1.000") + D("0.999")
    assert book.realized_pnl == D("-1.999")
    assert book.cost_basis == 0


def test_fee_in_quote_on_a_buy_adds_to_the_cost() -> None:
    # Bitfinex-style: the fee is charged in the currency received, but an exchange may charge quote.
    book = replay(D("1000"), "BTC", "USD", [LedgerFill("buy", D("2"), D("100"), D("0.5"), "USD", 1)])
    assert book.base == D("2")
    assert book.quote == D("799.5")
    assert book.cost_basis == D("200.5")
    assert book.fees == D("0.5")
    assert unrealized_pnl(book, D("110")) == D("19.5")
    assert equity(book, D("110")) == D("1019.5")


def test_fee_in_base_on_a_sell_takes_extra_units() -> None:
    fills = [
        LedgerFill("buy", D("2"), D("100"), D(0), "BTC", 1),
        LedgerFill("sell", D("1"), D("150"), D("0.01"), "BTC", 2),
    ]
    book = replay(D("1000"), "BTC", "USD", fills)
    assert book.base == D("0.99")
    assert book.quote == D("950")
    assert book.fees == D("1.5")  # 0.01 BTC at 150
    # 1.01 units leave at an average cost of 100: proceeds 150 - cost 101
    assert book.realized_pnl == D("49")
    assert book.cost_basis == D("99")


def test_average_cost_over_several_buys_and_sells() -> None:
    fills = [
        LedgerFill("buy", D("1"), D("100"), D(0), "BTC", 1),
        LedgerFill("buy", D("1"), D("200"), D(0), "BTC", 2),  # average cost 150
        LedgerFill("sell", D("0.5"), D("180"), D("0.9"), "USD", 3),  # realises 90 - 0.9 - 75
        LedgerFill("buy", D("0.5"), D("120"), D(0), "BTC", 4),  # cost 225 + 60: 2 units at 142.5
        LedgerFill("sell", D("2"), D("160"), D(0), "USD", 5),  # realises 320 - 285
    ]
    book = replay(D("1000"), "btc", "usd", fills)
    assert book.base == 0
    assert book.quote == D("1000") - 100 - 200 + D("89.1") - 60 + 320
    assert book.realized_pnl == D("14.1") + D("35")
    assert book.fees == D("0.9")
    assert book.cost_basis == 0
    assert book.position == "short"


def test_a_fee_in_a_third_currency_is_refused() -> None:
    with pytest.raises(LedgerError, match=r"fill 1 .* in ETH, neither .*BTC.*USD"):
        replay(D("100"), "BTC", "USD", [LedgerFill("buy", D("1"), D("10"), D("0.1"), "ETH", 1)])


@pytest.mark.parametrize(
    "fill",
    [
        LedgerFill("hold", D("1"), D("10"), D(0), "USD", 1),
        LedgerFill("buy", D("-1"), D("10"), D(0), "USD", 1),
        LedgerFill("sell", D("1"), D("10"), D("-0.1"), "USD", 1),
    ],
)
def test_malformed_fills_are_refused(fill: LedgerFill) -> None:
    with pytest.raises(LedgerError, match="fill 1"):
        replay(D("100"), "BTC", "USD", [fill])


money = st.decimals(min_value=D("1"), max_value=D("1000000"), places=2)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
fee_rates = st.sampled_from([D(0), D("0.001"), D("0.002"), D("0.0025"), D("0.01")])


@settings(max_examples=200, deadline=None)
@given(cash=money, price=prices, fee=fee_rates)
def test_property_round_trip_costs_two_fees(cash: Decimal, price: Decimal, fee: Decimal) -> None:
    first = paper_buy(cash, price, fee)
    held = first.amount - first.fee
    book = replay(cash, "BTC", "USD", [first, paper_sell(held, price, fee)])
    expected = cash * (1 - fee) ** 2
    # C/P is rounded to 28 significant digits; everything else is exact.
    assert abs(book.quote - expected) <= expected * D("1e-25")
    assert book.base == 0
    assert abs(book.realized_pnl - (expected - cash)) <= cash * D("1e-25")
    assert abs(book.fees - cash * fee * (2 - fee)) <= cash * D(
        "1e-25"
    )  # f·C on the buy, f·C(1-f) on the sale


trades = st.lists(
    st.tuples(st.booleans(), st.integers(1, 100), prices, fee_rates, st.booleans()), min_size=1, max_size=12
)


@settings(max_examples=200, deadline=None)
@given(cash=money, steps=trades, mark=prices)
def test_property_equity_is_allocation_plus_realized_plus_unrealized(
    cash: Decimal, steps: list[tuple[bool, int, Decimal, Decimal, bool]], mark: Decimal
) -> None:
    fills: list[LedgerFill] = []
    book = replay(cash, "BTC", "USD", fills)
    for time_ms, (buy, percent, price, fee, fee_in_base) in enumerate(steps):
        if buy and book.quote > 0:
            amount = book.quote * percent / 100 / price
            fee_amount = amount * fee if fee_in_base else D(0)
            fill = LedgerFill("buy", amount, price, fee_amount, "BTC" if fee_in_base else "USD", time_ms)
        elif not buy and book.base > 0:
            units = book.base * percent / 100
            fill = LedgerFill("sell", units, price, units * price * fee, "USD", time_ms)
        else:
            continue
        fills.append(fill)
        book = replay(cash, "BTC", "USD", fills)
        assert book.base >= 0
        assert book.cost_basis >= 0
    # Decimal keeps 28 significant digits: allow rounding at the scale of the largest figure.
    tolerance = max(cash, equity(book, mark), book.quote, abs(book.realized_pnl)) * D("1e-24")
    assert abs(equity(book, mark) - (cash + book.realized_pnl + unrealized_pnl(book, mark))) <= tolerance
    if book.base == 0:
        assert abs(book.quote - (cash + book.realized_pnl)) <= tolerance


def test_dust_left_by_a_rounded_sale_is_no_position() -> None:
    from tradewinds.domain.ledger import held_position

    book = replay(Decimal(1000), "BTC", "USD", [
        LedgerFill("buy", Decimal("1.534848"), Decimal("651.53"), Decimal("0.001534848"), "BTC", 1),
        LedgerFill("sell", Decimal("1.533313"), Decimal("650.66"), Decimal("0.99766544"), "USD", 2),
    ])  # fmt: skip
    assert book.base == Decimal("0.000000152") and book.position == "long"
    assert held_position(book, Decimal("650.66")) == "short"  # worth 0.0001 USD
    assert held_position(book, None) == "long"  # without a price, any base counts
    assert held_position(replay(Decimal(10), "BTC", "USD", []), Decimal(1)) == "short"


@settings(max_examples=200, deadline=None)
@given(cash=money, steps=trades, data=st.data())
def test_property_continuing_from_a_book_equals_replaying_every_fill(
    cash: Decimal, steps: list[tuple[bool, int, Decimal, Decimal, bool]], data: st.DataObject
) -> None:
    """What the paper lane relies on to replay only the fills since its kept book."""
    fills: list[LedgerFill] = []
    for time_ms, (buy, percent, price, fee, fee_in_base) in enumerate(steps):
        book = replay(cash, "BTC", "USD", fills)
        if buy and book.quote > 0:
            amount = book.quote * percent / 100 / price
            fills.append(LedgerFill("buy", amount, price, amount * fee if fee_in_base else D(0),
                                    "BTC" if fee_in_base else "USD", time_ms))  # fmt: skip
        elif not buy and book.base > 0:
            units = book.base * percent / 100
            fills.append(LedgerFill("sell", units, price, units * price * fee, "USD", time_ms))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(fills)), max_size=4)))
    book = None
    for start, end in zip([0, *cuts], [*cuts, len(fills)], strict=True):
        book = replay(D(0) if book else cash, "btc", "usd", fills[start:end], start=book)
    assert book == replay(cash, "BTC", "USD", fills)
