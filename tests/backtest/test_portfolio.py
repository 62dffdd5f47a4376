"""The account a backtest trades, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.backtest.metrics import compute_metrics, max_drawdown
from tradewinds.backtest.portfolio import FillPrice, held_targets, simulate
from tradewinds.domain.candle_arrays import CandleArrays


def candles_of(closes: list[float], opens: list[float] | None = None) -> CandleArrays:
    c = np.array(closes, dtype=np.float64)
    o = np.array(opens if opens is not None else closes, dtype=np.float64)
    return CandleArrays(
        time=np.arange(len(c), dtype=np.int64) * 3_600_000,
        open=o,
        high=np.maximum(o, c),
        low=np.minimum(o, c),
        close=c,
        volume=np.ones(len(c)),
    )


def test_held_targets_forward_fill_and_start_short() -> None:
    decisions = np.array([0, 0, 1, 0, 0, -1, 0, 1], dtype=np.int8)
    assert held_targets(decisions).tolist() == [-1, -1, 1, 1, 1, -1, -1, 1]


def test_buy_then_sell_at_close_by_hand() -> None:
    candles = candles_of([100, 110, 121, 100])
    decisions = np.array([1, 0, -1, 0], dtype=np.int8)
    account = simulate(candles, decisions, cash=1000, fee=0.01)
    units = 1000 * 0.99 / 100  # 9.9
    cash_after = units * 121 * 0.99  # 1185.921
    assert [f.side for f in account.fills] == ["buy", "sell"]
    assert account.fills[0].units == pytest.approx(units)
    assert account.fills[0].fee == pytest.approx(10.0)
    assert account.fills[1].cash_after == pytest.approx(cash_after)
    assert account.equity.tolist() == pytest.approx([units * 100, units * 110, cash_after, cash_after])
    metrics = compute_metrics(candles, account, 1000, 0.01, warmup_candles=0)
    assert metrics.trades == 2 and metrics.win_rate == 1.0
    assert metrics.final_equity == pytest.approx(cash_after)
    assert metrics.total_return == pytest.approx(cash_after / 1000 - 1)
    assert metrics.buy_hold_return == pytest.approx(0.99 * 100 / 100 - 1)
    assert metrics.exposure == pytest.approx(0.5)


def test_next_open_fills_one_candle_later_and_last_decision_cannot_fill() -> None:
    candles = candles_of([100, 110, 120, 130], opens=[99, 105, 115, 125])
    decisions = np.array([1, 0, 0, -1], dtype=np.int8)
    account = simulate(candles, decisions, cash=1000, fee=0.0, fill=FillPrice.NEXT_OPEN)
    assert [(f.side, f.price) for f in account.fills] == [("buy", 105.0)]
    units = 1000 / 105
    assert account.equity.tolist() == pytest.approx([1000, units * 110, units * 120, units * 130])


def test_equity_is_marked_without_a_final_sale_and_repeats_do_nothing() -> None:
    candles = candles_of([50, 40, 80])
    account = simulate(candles, np.array([1, 1, 1], dtype=np.int8), cash=100, fee=0.0)
    assert len(account.fills) == 1
    assert account.equity.tolist() == pytest.approx([100, 80, 160])
    assert max_drawdown(account.equity, 100) == pytest.approx(0.2)


def test_drawdown_peak_starts_at_the_starting_cash() -> None:
    # Buying on a one-candle file pays the fee: 9,990 from 10,000 is a 0.1 % drawdown.
    one = candles_of([100])
    account = simulate(one, np.array([1], dtype=np.int8), cash=10_000, fee=0.001)
    assert account.equity.tolist() == pytest.approx([9_990])
    assert compute_metrics(one, account, 10_000, 0.001, 0).max_drawdown == pytest.approx(0.001)
    # Three candles: the fall is measured from 10,000, not from the first equity point.
    three = candles_of([100, 99.95, 99.88])
    account = simulate(three, np.array([1, 0, 0], dtype=np.int8), cash=10_000, fee=0.001)
    expected = 1 - float(account.equity[-1]) / 10_000
    assert compute_metrics(three, account, 10_000, 0.001, 0).max_drawdown == pytest.approx(expected)
    assert expected == pytest.approx(0.0022, abs=1e-4)


def test_bad_inputs_are_refused() -> None:
    candles = candles_of([1, 2])
    with pytest.raises(ValueError, match="starting cash"):
        simulate(candles, np.zeros(2, dtype=np.int8), cash=0, fee=0)
    with pytest.raises(ValueError, match="fee"):
        simulate(candles, np.zeros(2, dtype=np.int8), cash=1, fee=1.5)
    with pytest.raises(ValueError, match="3 decisions for 2 candles"):
        simulate(candles, np.zeros(3, dtype=np.int8), cash=1, fee=0)


prices = st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(closes=prices, data=st.data(), fee=st.floats(min_value=0, max_value=0.1))
def test_equity_never_negative_and_matches_a_reference_loop(
    closes: list[float], data: st.DataObject, fee: float
) -> None:
    decisions = np.array(
        data.draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=len(closes), max_size=len(closes))),
        dtype=np.int8,
    )
    candles = candles_of(closes)
    account = simulate(candles, decisions, cash=1000, fee=fee)
    cash, units, held, expected = 1000.0, 0.0, -1, []
    for price, decision in zip(closes, decisions.tolist(), strict=True):
        if decision == 1 and held != 1:
            units, cash, held = cash * (1 - fee) / price, 0.0, 1
        elif decision == -1 and held == 1:
            cash, units, held = units * price * (1 - fee), 0.0, -1
        expected.append(cash + units * price)
    assert np.all(account.equity >= 0)
    assert account.equity.tolist() == pytest.approx(expected, rel=1e-12)


@given(closes=prices)
def test_no_trade_keeps_cash_and_always_long_is_buy_and_hold(closes: list[float]) -> None:
    candles = candles_of(closes)
    idle = simulate(candles, np.zeros(len(closes), dtype=np.int8), cash=500, fee=0.001)
    assert idle.equity.tolist() == pytest.approx([500.0] * len(closes))
    always = simulate(candles, np.ones(len(closes), dtype=np.int8), cash=500, fee=0.0)
    assert always.equity[-1] == pytest.approx(500 * closes[-1] / closes[0], rel=1e-12)
