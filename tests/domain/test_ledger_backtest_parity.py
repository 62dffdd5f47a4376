"""The ledger, fed the fills a paper account makes, agrees with the backtest's account.

Paper fills follow the backtest's convention (cash C buys C/P gross units with the fee f·C/P taken
in base; U units sell for U·P with the fee f·U·P taken in quote), so replaying them must give the
backtest's equity, fees and position after every decision: this is what lets a live paper
assignment and a backtest agree to the cent.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.backtest.portfolio import simulate
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle
from tradewinds.domain.ledger import LedgerFill, equity, replay

D = Decimal


@settings(max_examples=100, deadline=None)
@given(
    closes=st.lists(st.integers(100, 100_000), min_size=2, max_size=60),
    choices=st.lists(st.sampled_from([1, -1, 0]), min_size=60, max_size=60),
    fee=st.sampled_from(["0", "0.001", "0.0025"]),
)
def test_paper_fills_replayed_equal_the_backtest(closes: list[int], choices: list[int], fee: str) -> None:
    prices = [D(c) / 100 for c in closes]
    candles = CandleArrays.from_candles(
        Candle(i * 60_000, float(p), float(p), float(p), float(p), 1.0) for i, p in enumerate(prices)
    )
    decisions = np.array(choices[: len(prices)], dtype=np.int8)
    account = simulate(candles, decisions, cash=1000.0, fee=float(fee))

    rate, fills = D(fee), []
    book = replay(D(1000), "BTC", "USD", [])
    for fill in account.fills:  # the backtest's trades, made as a paper account makes them
        price = prices[fill.time_ms // 60_000]
        if fill.side == "buy":
            gross = book.quote / price
            fills.append(LedgerFill("buy", gross, price, gross * rate, "BTC", fill.time_ms))
        else:
            fills.append(LedgerFill("sell", book.base, price, book.base * price * rate, "USD", fill.time_ms))
        book = replay(D(1000), "BTC", "USD", fills)
        assert np.isclose(float(book.base), fill.units_after, rtol=1e-12)
        assert np.isclose(float(book.quote), fill.cash_after, rtol=1e-12, atol=1e-9)
    last = prices[-1]
    assert np.isclose(float(equity(book, last)), account.equity[-1], rtol=1e-12)
    assert np.isclose(float(book.fees), sum(f.fee for f in account.fills), rtol=1e-12, atol=1e-9)
    assert book.position == ("long" if account.holding[-1] else "short")
    # Realised P&L after fees plus what is still held at the last price is the equity's gain.
    unrealized = book.base * last - book.cost_basis if book.base else D(0)
    assert abs(book.realized_pnl + unrealized - (equity(book, last) - 1000)) < D("1e-18")
