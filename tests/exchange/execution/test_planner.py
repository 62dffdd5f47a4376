"""The execution planner: examples and properties (bounded by the slice and the account, converges)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.exchange.adapter import MarketInfo, OrderSide
from tradewinds.exchange.execution.planner import Plan, PlanKind, Pricing, plan_next, round_down

BTC = MarketInfo(
    symbol="BTC/USD",
    exchange_id="tBTCUSD",
    base="BTC",
    quote="USD",
    amount_precision=Decimal("0.00000001"),
    min_amount=Decimal("0.0001"),
    min_cost=Decimal("1"),
)


@dataclass(frozen=True)
class Book:
    base: Decimal
    quote: Decimal


def test_long_spends_the_slice_quote_rounded_down() -> None:
    plan = plan_next(
        "long", Book(Decimal(0), Decimal(1000)), BTC, {"USD": Decimal(5000)}, Pricing(Decimal(30000))
    )
    assert plan.kind is PlanKind.ORDER and plan.order is not None
    assert plan.order.side is OrderSide.BUY
    assert plan.order.amount == Decimal("0.03333333")  # 1000 / 30000 rounded down to 1e-8


def test_long_never_spends_more_than_the_account_has_free() -> None:
    plan = plan_next(
        "long", Book(Decimal(0), Decimal(1000)), BTC, {"USD": Decimal(300)}, Pricing(Decimal(30000))
    )
    assert plan.order is not None and plan.order.amount == Decimal("0.01")


def test_the_reserve_leaves_room_for_the_fee_the_venue_checks() -> None:
    plan = plan_next(
        "long",
        Book(Decimal(0), Decimal(1002)),
        BTC,
        {"USD": Decimal(1002)},
        Pricing(Decimal(1000), Decimal("0.002")),
    )
    assert plan.order is not None and plan.order.amount == Decimal(1)


def test_short_sells_only_the_slice_units() -> None:
    plan = plan_next(
        "short", Book(Decimal("0.5"), Decimal(0)), BTC, {"BTC": Decimal(3)}, Pricing(Decimal(30000))
    )
    assert plan.order is not None and (plan.order.side, plan.order.amount) == (OrderSide.SELL, Decimal("0.5"))


def test_held_and_below_minimum_are_not_errors() -> None:
    held = plan_next(
        "short", Book(Decimal(0), Decimal(10)), BTC, {"BTC": Decimal(1)}, Pricing(Decimal(30000))
    )
    assert held.kind is PlanKind.HELD
    dust = plan_next(
        "short", Book(Decimal("0.00005"), Decimal(0)), BTC, {"BTC": Decimal(1)}, Pricing(Decimal(30000))
    )
    assert dust.kind is PlanKind.BELOW_MINIMUM and "minimum order of 0.0001 BTC" in dust.reason
    cheap = plan_next(
        "long", Book(Decimal(0), Decimal("0.5")), BTC, {"USD": Decimal(9)}, Pricing(Decimal(10))
    )
    assert cheap.kind is PlanKind.BELOW_MINIMUM and "minimum of 1 USD" in cheap.reason


def test_a_wrong_target_or_price_is_named() -> None:
    with pytest.raises(ValueError, match="unknown target 'flat'"):
        plan_next("flat", Book(Decimal(0), Decimal(1)), BTC, {}, Pricing(Decimal(1)))
    with pytest.raises(ValueError, match="must be positive"):
        plan_next("long", Book(Decimal(0), Decimal(1)), BTC, {}, Pricing(Decimal(0)))


def test_round_down() -> None:
    assert round_down(Decimal("1.23456789123"), Decimal("0.00000001")) == Decimal("1.23456789")
    assert round_down(Decimal("7.9"), Decimal(2)) == Decimal(6)
    assert round_down(Decimal("7.9"), None) == Decimal("7.9")


money = st.decimals(min_value=0, max_value=10**7, places=8, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value="0.01", max_value=10**5, places=4, allow_nan=False, allow_infinity=False)
steps = st.sampled_from([Decimal("0.00000001"), Decimal("0.001"), Decimal("1")])


@settings(max_examples=300, deadline=None)
@given(base=money, quote=money, free_base=money, free_quote=money, price=prices, step=steps)
def test_an_order_never_exceeds_the_slice_nor_the_account(
    base: Decimal, quote: Decimal, free_base: Decimal, free_quote: Decimal, price: Decimal, step: Decimal
) -> None:
    market = MarketInfo("X/Y", "XY", "X", "Y", amount_precision=step, min_amount=step)
    free = {"X": free_base, "Y": free_quote}
    for target in ("long", "short"):
        plan = plan_next(target, Book(base, quote), market, free, Pricing(price))
        if plan.order is None:
            continue
        assert plan.order.amount > 0 and plan.order.amount % step == 0
        if target == "long":
            assert plan.order.amount * price <= min(quote, free_quote)
        else:  # never more than the slice holds: never another assignment's units
            assert plan.order.amount <= min(base, free_base)


def _fill(book: Book, plan: Plan, fill_price: Decimal, fee: Decimal) -> Book:
    """The backtest's convention: buys pay the fee in base, sells in quote."""
    assert plan.order is not None
    amount = plan.order.amount
    if plan.order.side is OrderSide.BUY:
        return Book(book.base + amount * (1 - fee), book.quote - amount * fill_price)
    return Book(book.base - amount, book.quote + amount * fill_price * (1 - fee))


@settings(max_examples=300, deadline=None)
@given(
    quote=st.decimals(min_value=0, max_value=10**6, places=2),
    price=prices,
    step=steps,
    fee=st.sampled_from([Decimal(0), Decimal("0.001"), Decimal("0.002")]),
    drift=st.sampled_from([Decimal("0.99"), Decimal(1), Decimal("1.01")]),
)
def test_repeated_plans_converge_to_the_target(
    quote: Decimal, price: Decimal, step: Decimal, fee: Decimal, drift: Decimal
) -> None:
    """Fills that slip a little still reach the target within a few legs, then stop."""
    market = MarketInfo(
        "X/Y", "XY", "X", "Y", amount_precision=step, min_amount=step, min_cost=Decimal("0.01")
    )
    book = Book(Decimal(0), quote)
    for target in ("long", "short"):
        for _ in range(10):  # each leg leaves about 2% (reserve and drift): 1e6 is spent in 8
            free = {"X": book.base, "Y": book.quote}
            plan = plan_next(target, book, market, free, Pricing(price, Decimal("0.01")))
            if plan.kind is not PlanKind.ORDER:
                break
            book = _fill(book, plan, min(price * drift, price), fee)
            assert book.base >= 0 and book.quote >= 0
        else:
            raise AssertionError(f"{target} did not converge: {book}")
        left = book.quote if target == "long" else book.base * price
        # What is left is too small to trade (under the minimum cost or one amount step), apart from
        # what ten legs could not yet spend (each leg leaves about 2%).
        tradable_floor = (Decimal("0.0101") + step * price) * Decimal("1.02")
        assert left <= tradable_floor + quote * Decimal("1e-6"), (target, left)
