"""The dashboard's equity curve, computed from the fills and the market's closes."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tradewinds.domain.ledger import LedgerFill
from tradewinds.web.routes.dashboard import curve_grid, slice_value_curve

MIN = 60_000


def test_the_grid_starts_at_the_first_assignment_and_ends_now() -> None:
    grid = curve_grid(first_ms=10 * MIN + 5, now_ms=70 * MIN)
    assert grid[0] == 10 * MIN and grid[-1] == 70 * MIN
    assert np.all(np.diff(grid) > 0) and len(grid) <= 402
    long = curve_grid(first_ms=0, now_ms=90 * 86_400_000)
    assert long[0] == 60 * 86_400_000  # at most 30 days back


def test_a_slice_is_worth_its_cash_then_its_units_at_each_price() -> None:
    grid = np.array([0, MIN, 2 * MIN, 3 * MIN], dtype=np.int64)
    marks = np.array([100.0, 100.0, 110.0, 120.0])
    buy = LedgerFill("buy", Decimal(10), Decimal(100), Decimal("0.01"), "BTC", time_ms=MIN)
    sell = LedgerFill("sell", Decimal("9.99"), Decimal(120), Decimal("1.1988"), "USD", time_ms=3 * MIN)
    values = slice_value_curve(Decimal(1000), "BTC/USD", [buy, sell], grid, marks)
    assert values[0] == pytest.approx(1000)  # before the buy: cash
    assert values[1] == pytest.approx(9.99 * 100)  # 1000 spent, 9.99 units after the fee
    assert values[2] == pytest.approx(9.99 * 110)
    assert values[3] == pytest.approx(9.99 * 120 - 1.1988)  # sold: cash after the fee
