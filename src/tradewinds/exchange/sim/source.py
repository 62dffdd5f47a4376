"""Minute sources (synthetic or replayed): what they provide, and the states a minute shows as it
forms before it closes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.exchange.adapter import (
    MarketInfo,
)

NAME = "sim"
FORMING_KIND = 4  # the seed word of forming states (see synthetic.py for the others)


def step_offset_ms(step: int, steps: int) -> int:
    """When, after the minute opened, forming update `step` (1..steps) is due; the last at its end."""
    return step * MINUTE_MS // steps


def steps_due(minute_ms: int, now_ms: int, steps: int) -> int:
    """How many of the minute's forming updates are due at `now_ms` (0..steps)."""
    elapsed = now_ms - minute_ms
    if elapsed <= 0:
        return 0
    return min(steps, elapsed * steps // MINUTE_MS)


def forming_states(
    final: Candle, steps: int, rng: np.random.Generator, decimals: int | None = None
) -> list[tuple[int, Candle]]:
    """The states (step, candle) a minute goes through on its way to `final`, ascending by step.

    The open is fixed, high and low only widen, closes stay inside the final range and volume
    grows strictly (the core tells versions of a minute apart by volume), ending at `final` at
    step `steps`. A state whose volume would not grow (zero-volume minutes) is left out.
    """
    o, h, lo, c, v = final.open, final.high, final.low, final.close, final.volume
    draws = rng.random(steps - 1)
    high_at, low_at = (int(x) for x in rng.integers(1, steps + 1, size=2))
    weights = 0.3 + rng.random(steps)
    shares = np.cumsum(weights) / weights.sum()
    path = o + (c - o) * np.arange(1, steps) / steps + (draws - 0.5) * (h - lo)
    closes = np.round(path, decimals) if decimals is not None else path
    closes = np.clip(closes, lo, h)
    states: list[tuple[int, Candle]] = []
    run_high = run_low = o
    last_volume = 0.0
    for step in range(1, steps):
        close = float(closes[step - 1])
        run_high = h if step >= high_at else max(run_high, close)
        run_low = lo if step >= low_at else min(run_low, close)
        volume = float(v * shares[step - 1])
        if decimals is not None:
            volume = round(volume, 8)
        if last_volume < volume < v:
            states.append((step, Candle(final.time, o, run_high, run_low, close, volume)))
            last_volume = volume
    states.append((steps, final))
    return states


def forming_rng(seed: int, pair_index: int, minute_ms: int) -> np.random.Generator:
    """The generator of one minute's forming states: seeded by the minute, so they repeat."""
    return np.random.default_rng([seed, pair_index, FORMING_KIND, minute_ms // MINUTE_MS])


class MinuteSource(Protocol):
    """Where a simulator's 1-minute candles come from. Pure: no I/O, no clock."""

    markets: Mapping[str, MarketInfo]
    first_ms: int  # no candle opens earlier
    end_ms: int | None  # the stream ends when simulated time reaches it; None: never

    def candle(self, symbol: str, minute_ms: int) -> Candle | None:
        """The closed candle of the minute, None if it had no trades."""
        ...

    def closed(self, symbol: str, first_ms: int, last_ms: int) -> CandleArrays:
        """Candles opening in [first_ms, last_ms], ascending."""
        ...

    def before(self, symbol: str, minute_ms: int, count: int) -> list[Candle]:
        """The newest `count` candles opening before `minute_ms`, ascending."""
        ...

    def forming(self, symbol: str, minute_ms: int, steps: int) -> list[tuple[int, Candle]]:
        """The forming states of the minute (see `forming_states`); empty if it had no trades."""
        ...


def unknown_market_message(symbol: str, markets: Mapping[str, MarketInfo]) -> str:
    return f"{NAME} has no market {symbol!r}; its markets are: {', '.join(markets)}"
