"""Trade a decision series on candles: the account the backtest reports on.

The account starts in cash (short). A decision that differs from the held position trades the
whole position at the fill price; buying with cash C at price P and fee f gives C(1-f)/P units,
selling U units gives U*P(1-f). Equity is marked at every close.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays


class FillPrice(enum.Enum):
    CLOSE = "close"  # at the close of the candle that decided
    NEXT_OPEN = "next-open"  # at the open of the following candle


@dataclass(frozen=True)
class Fill:
    time_ms: int  # open time of the candle whose price filled the order
    side: str  # "buy" or "sell"
    price: float
    units: float  # asset units bought or sold
    fee: float  # in quote currency
    cash_after: float
    units_after: float


@dataclass(frozen=True)
class FillTable:
    """Every fill as columns (a year of minutes can hold tens of thousands of fills)."""

    time_ms: npt.NDArray[np.int64]
    is_buy: npt.NDArray[np.bool_]
    price: npt.NDArray[np.float64]
    units: npt.NDArray[np.float64]
    fee: npt.NDArray[np.float64]
    cash_after: npt.NDArray[np.float64]
    units_after: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time_ms)

    def rows(self) -> list[Fill]:
        return [
            Fill(int(t), "buy" if b else "sell", float(p), float(u), float(f), float(c), float(a))
            for t, b, p, u, f, c, a in zip(
                self.time_ms,
                self.is_buy,
                self.price,
                self.units,
                self.fee,
                self.cash_after,
                self.units_after,
                strict=True,
            )
        ]


@dataclass(frozen=True)
class Account:
    table: FillTable
    equity: npt.NDArray[np.float64]  # marked at each candle's close
    holding: npt.NDArray[np.bool_]  # whether the asset was held at each candle's close

    @property
    def fills(self) -> list[Fill]:
        return self.table.rows()


def held_targets(decisions: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
    """The target in force after each candle: the last non-zero decision, -1 (short) before any."""
    decided = np.flatnonzero(decisions)
    held = np.full(len(decisions), -1, dtype=np.int8)
    if len(decided):
        # Each decision holds until the next one: repeat it over its run.
        runs = np.diff(np.r_[decided, len(decisions)])
        held[decided[0] :] = np.repeat(decisions[decided], runs)
    return held


def simulate(
    candles: CandleArrays,
    decisions: npt.NDArray[np.int8],
    cash: float,
    fee: float,
    fill: FillPrice = FillPrice.CLOSE,
) -> Account:
    n = len(candles)
    if len(decisions) != n:
        raise ValueError(f"{len(decisions)} decisions for {n} candles")
    if cash <= 0:
        raise ValueError(f"starting cash must be positive, got {cash}")
    if not 0 <= fee < 1:
        raise ValueError(f"fee must be a fraction in [0, 1), got {fee}")
    targets = held_targets(decisions)
    # The position held at each close: with next-open fills a change takes effect one candle later.
    if fill is FillPrice.CLOSE or n == 0:
        position = targets
    else:
        position = np.r_[np.int8(-1), targets[:-1]].astype(np.int8)
    changes = np.flatnonzero(np.diff(np.r_[np.int8(-1), position]) != 0)
    prices = (candles.close if fill is FillPrice.CLOSE else candles.open)[changes]
    # Fills alternate buy, sell, buy... from cash. After each fill the whole account is one
    # amount: units after a buy (cash*(1-f)/P), cash after a sell (units*P*(1-f)), so the amounts
    # are a running product.
    is_buy = np.arange(len(changes)) % 2 == 0
    factor = (1 - fee) * np.where(is_buy, 1 / prices, prices)
    amount = cash * np.cumprod(factor)
    before = np.r_[cash, amount[:-1]]
    units_after = np.where(is_buy, amount, 0.0)
    cash_after = np.where(is_buy, 0.0, amount)
    traded_units = np.where(is_buy, amount, before)
    fees = np.where(is_buy, before * fee, before * prices * fee)
    table = FillTable(
        candles.time[changes].astype(np.int64),
        is_buy,
        prices.astype(np.float64),
        traded_units,
        fees,
        cash_after,
        units_after,
    )
    # Equity: the account's one amount after the fills so far (units while holding, else cash),
    # marked at each close. A running count of fills indexes it: cheaper than carrying the index
    # of the latest fill forward.
    fills_so_far = np.zeros(n, dtype=np.int32)
    fills_so_far[changes] = 1
    np.cumsum(fills_so_far, out=fills_so_far)
    held = np.r_[cash, amount][fills_so_far]
    holding = position > 0
    equity = np.where(holding, held * candles.close, held)
    return Account(table, equity.astype(np.float64, copy=False), holding)
