"""The next order that brings an assignment's slice of an account to its target (pure, no I/O).

`long` buys base with the quote the slice holds (never more than the account has free); `short`
sells the base units the slice holds (never more than the account has free, so never another
assignment's units). Amounts are rounded down to the market's step. What remains below the
market's minimum amount or cost cannot be traded: the slice holds its target as closely as the
market allows, and that is "below the minimum", not an error.

The execution service calls `plan_next` again after every fill, with the slice rebuilt from the
recorded fills, until it answers something other than an order.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from tradewinds.exchange.adapter import MarketInfo, OrderSide


class SliceHoldings(Protocol):
    """What the planner needs of a slice's book (domain.ledger.SliceBook has these)."""

    @property
    def base(self) -> Decimal: ...

    @property
    def quote(self) -> Decimal: ...


class PlanKind(enum.Enum):
    ORDER = "order"  # place `order`
    HELD = "held"  # the slice holds the target: nothing left to trade
    BELOW_MINIMUM = "below_minimum"  # something is left, but less than the market trades


@dataclass(frozen=True)
class PlannedOrder:
    side: OrderSide
    amount: Decimal  # base units, a multiple of the market's step
    expected_cost: Decimal  # amount * price, in quote (before fees)


@dataclass(frozen=True)
class Plan:
    kind: PlanKind
    reason: str
    order: PlannedOrder | None = None


@dataclass(frozen=True)
class Pricing:
    """How a buy is sized: `price` the expected fill price per base unit; `reserve` the fraction
    of the cost the venue holds back on top of it (Bitfinex checks the taker fee against the
    balance) plus a margin for the price moving before the order fills."""

    price: Decimal
    reserve: Decimal = Decimal(0)


def plan_next(
    target: str,
    holdings: SliceHoldings,
    market: MarketInfo,
    free: Mapping[str, Decimal],
    pricing: Pricing,
) -> Plan:
    """The next order for `target` ("long" | "short"), or why there is none."""
    if not pricing.price.is_finite() or pricing.price <= 0:
        raise ValueError(f"the price of {market.symbol} must be positive, got {pricing.price}")
    if target == "long":
        return _plan_buy(holdings, market, free, pricing)
    if target == "short":
        return _plan_sell(holdings, market, free, pricing)
    raise ValueError(f"unknown target {target!r}: expected 'long' or 'short'")


def _plan_buy(
    holdings: SliceHoldings, market: MarketInfo, free: Mapping[str, Decimal], pricing: Pricing
) -> Plan:
    spendable = min(max(holdings.quote, Decimal(0)), max(free.get(market.quote, Decimal(0)), Decimal(0)))
    if spendable <= 0:
        return Plan(PlanKind.HELD, f"the slice has no {market.quote} left to buy {market.base} with")
    amount = round_down(spendable / (pricing.price * (1 + pricing.reserve)), market.amount_precision)
    return _checked(OrderSide.BUY, amount, market, pricing.price, f"{spendable} {market.quote} to spend")


def _plan_sell(
    holdings: SliceHoldings, market: MarketInfo, free: Mapping[str, Decimal], pricing: Pricing
) -> Plan:
    sellable = min(max(holdings.base, Decimal(0)), max(free.get(market.base, Decimal(0)), Decimal(0)))
    if sellable <= 0:
        return Plan(PlanKind.HELD, f"the slice holds no {market.base} to sell")
    amount = round_down(sellable, market.amount_precision)
    return _checked(OrderSide.SELL, amount, market, pricing.price, f"{sellable} {market.base} to sell")


def _checked(side: OrderSide, amount: Decimal, market: MarketInfo, price: Decimal, what: str) -> Plan:
    cost = amount * price
    if amount <= 0:
        step = market.amount_precision
        return Plan(PlanKind.BELOW_MINIMUM, f"{what} is less than one {market.symbol} amount step ({step})")
    if market.min_amount is not None and amount < market.min_amount:
        return Plan(
            PlanKind.BELOW_MINIMUM,
            f"{what}: {amount} {market.base} is below the {market.symbol} minimum order of "
            f"{market.min_amount} {market.base}",
        )
    if market.min_cost is not None and cost < market.min_cost:
        return Plan(
            PlanKind.BELOW_MINIMUM,
            f"{what}: {amount} {market.base} costs about {cost} {market.quote}, below the "
            f"{market.symbol} minimum of {market.min_cost} {market.quote}",
        )
    if market.max_amount is not None and amount > market.max_amount:
        amount = round_down(market.max_amount, market.amount_precision)  # the rest goes in later legs
        cost = amount * price
    return Plan(
        PlanKind.ORDER, f"{side.value} {amount} {market.base} ({what})", PlannedOrder(side, amount, cost)
    )


def round_down(amount: Decimal, step: Decimal | None) -> Decimal:
    """`amount` rounded down to a multiple of `step` (unchanged without a step)."""
    if step is None or step <= 0:
        return amount
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step
