"""Candle fixtures for strategy tests."""

from __future__ import annotations

import numpy as np
import pytest

from tradewinds.domain.candle_arrays import CandleArrays


def random_walk(n: int, seed: int = 7) -> CandleArrays:
    """A positive random walk with consistent OHLC, one candle a minute."""
    rng = np.random.default_rng(seed)
    close = 20_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[close[:1], close[:-1]]
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    return CandleArrays(
        time=1_600_000_000_000 + np.arange(n, dtype=np.int64) * 60_000,
        open=open_,
        high=np.maximum(open_, close) + spread,
        low=np.minimum(open_, close) - spread,
        close=close,
        volume=rng.uniform(1, 10, n),
    )


@pytest.fixture(scope="session")
def candles() -> CandleArrays:
    return random_walk(2_000)


@pytest.fixture(scope="session")
def window() -> CandleArrays:
    return random_walk(500, seed=11)
