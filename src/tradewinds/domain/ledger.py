"""An assignment's slice of an account, replayed from its fills (pure: no I/O).

A slice starts with its allocation in quote currency and changes only by its fills, so its
position and profit and loss are always recomputed from the records, never kept as a running
figure that could drift. Realised P&L uses the average cost: a sale realises its net proceeds
minus the held units' average cost (fees included) times the units that leave.

Fees are charged in whatever currency the fill says: paper fills follow the backtest (base on
buys, quote on sells: cash C buys C(1-f)/P units, U units sell for U·P(1-f)); Bitfinex charges
the currency received. A fee in base is valued at its fill's price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


class LedgerError(ValueError):
    """A fill that cannot belong to the slice (unknown side or fee currency, negative amounts)."""


@dataclass(frozen=True, slots=True)
class LedgerFill:
    side: str  # "buy" | "sell"
    amount: Decimal  # base units bought (gross, before a fee in base) or sold
    price: Decimal
    fee: Decimal
    fee_currency: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class SliceBook:
    base: Decimal  # base units held
    quote: Decimal  # quote currency held
    fees: Decimal  # all fees paid, in quote (fees in base valued at their fill's price)
    realized_pnl: Decimal  # after fees
    cost_basis: Decimal  # quote paid for the base held, fees included

    @property
    def position(self) -> str:
        """`long` while the slice holds base units, else `short` (in cash); see `held_position`."""
        return "long" if self.base > 0 else "short"


DUST_VALUE = Decimal("0.01")  # base worth less than this (in quote) is dust, not a position


def held_position(book: SliceBook, price: Decimal | None) -> str:
    """The position a person sees: `long` while the base held is worth a cent or more at `price`.

    A sale rounded down to the market's amount step leaves dust behind (1e-8 units after a fee
    taken in base) that cannot be sold: that slice is out of the market. Without a price, any
    base held is a position."""
    if book.base <= 0:
        return "short"
    if price is not None and book.base * price < DUST_VALUE:
        return "short"
    return "long"


def replay(
    allocation: Decimal,
    base_currency: str,
    quote_currency: str,
    fills: Iterable[LedgerFill],
    start: SliceBook | None = None,
) -> SliceBook:
    """The slice after `fills` (in the order given: oldest first), starting with `allocation`, or
    continuing from `start`: the book this returned for the fills before these (then the
    allocation is not used)."""
    if start is None:
        base, quote, fees, realized, cost = ZERO, Decimal(allocation), ZERO, ZERO, ZERO
    else:
        base, quote, fees = start.base, start.quote, start.fees
        realized, cost = start.realized_pnl, start.cost_basis
    base_currency, quote_currency = base_currency.upper(), quote_currency.upper()
    for number, fill in enumerate(fills, start=1):
        _check(fill, number)
        fee_currency = fill.fee_currency.upper()
        fee_in_base = fee_currency == base_currency
        if not fee_in_base and fee_currency != quote_currency:
            raise LedgerError(
                f"fill {number} charges its fee in {fill.fee_currency}, neither the slice's base "
                f"({base_currency}) nor its quote ({quote_currency})"
            )
        gross = fill.amount * fill.price
        fees += fill.fee * fill.price if fee_in_base else fill.fee
        if fill.side == "buy":
            paid = gross if fee_in_base else gross + fill.fee
            base += fill.amount - fill.fee if fee_in_base else fill.amount
            quote -= paid
            cost += paid
        else:
            leaving = fill.amount + fill.fee if fee_in_base else fill.amount
            proceeds = gross if fee_in_base else gross - fill.fee
            # Average cost of the units that leave; selling all (or more) releases all of it.
            released = cost if leaving >= base or base <= 0 else cost * leaving / base
            base -= leaving
            quote += proceeds
            cost -= released
            realized += proceeds - released
    return SliceBook(base=base, quote=quote, fees=fees, realized_pnl=realized, cost_basis=cost)


def unrealized_pnl(book: SliceBook, price: Decimal) -> Decimal:
    """What the base held would gain or lose if sold at `price` (before the sale's fee)."""
    if book.base == 0:
        return ZERO
    return book.base * price - book.cost_basis


def equity(book: SliceBook, price: Decimal) -> Decimal:
    """The slice's value in quote with its base valued at `price`."""
    return book.quote + book.base * price


def _check(fill: LedgerFill, number: int) -> None:
    if fill.side not in ("buy", "sell"):
        raise LedgerError(f"fill {number} has side {fill.side!r}; expected 'buy' or 'sell'")
    if fill.amount < 0 or fill.price < 0 or fill.fee < 0:
        raise LedgerError(
            f"fill {number} has a negative amount, price or fee "
            f"({fill.amount}, {fill.price}, {fill.fee}); fills record magnitudes"
        )
