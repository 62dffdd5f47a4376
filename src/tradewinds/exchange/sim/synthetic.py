"""The synthetic market: seeded pairs whose every minute is a pure function of (seed, pair, minute).

The price is generated a day (block) at a time from a counter-based seed `[seed, pair, kind, day]`:
each day's opening log price is drawn around the pair's base price and the minutes in between are
a random walk pinned to both ends (a Brownian bridge), so any minute costs one cached day and
prices never drift away. A small seeded share of minutes has no trades and no candle, as on
Bitfinex.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays, FloatArray
from tradewinds.domain.candles import Candle
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.exchange.adapter import (
    ExchangeError,
    MarketInfo,
)
from tradewinds.exchange.sim.source import forming_rng, forming_states, unknown_market_message

# Synthetic markets trade from 2015-01-01T00:00Z on; there are no candles before.
LISTED_MS = 1_420_070_400_000
BLOCK_MINUTES = 1440  # one generated block per UTC day

# The `kind` word of the seed keeps the random streams of the different uses apart.
# (4 is the forming states': forming.FORMING_KIND.)
_PAIR_KIND, _ANCHOR_KIND, _WALK_KIND = 1, 2, 3

PAIR_NAMES = (
    "ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA", "JULIETT",
    "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO", "SIERRA", "TANGO",
    "UNIFORM", "VICTOR", "WHISKEY", "XRAY", "YANKEE", "ZULU",
)  # fmt: skip


def pair_name(index: int) -> str:
    """The base currency of synthetic pair `index`: NATO names, then SIM26, SIM27..."""
    return PAIR_NAMES[index] if index < len(PAIR_NAMES) else f"SIM{index}"


@dataclass(frozen=True, slots=True)
class PairModel:
    """The seeded character of one synthetic pair."""

    index: int
    market: MarketInfo
    base_price: float
    volatility: float  # standard deviation of a one-minute log return
    base_volume: float  # typical volume of a minute, in base currency
    no_trade_rate: float  # share of minutes without trades
    decimals: int  # prices are rounded to this many decimals (5 significant digits)


@dataclass(frozen=True, slots=True)
class _Block:
    """One day of one pair; index i is minute `start + i`."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    traded: npt.NDArray[np.bool_]


def _pair_model(seed: int, index: int, quote: str) -> PairModel:
    rng = np.random.default_rng([seed, index, _PAIR_KIND])
    magnitude = float(rng.uniform(-1.0, 4.5))
    decimals = max(0, 4 - math.floor(magnitude))
    base_price = round(10.0**magnitude, decimals)
    volatility = float(rng.uniform(0.0005, 0.003))
    base_volume = round(10.0 ** float(rng.uniform(3.0, 5.0)) / base_price, 8)
    no_trade_rate = float(rng.uniform(0.005, 0.04))
    amount_decimals = min(8, max(0, math.floor(magnitude) + 4))
    step = Decimal(1).scaleb(-amount_decimals)
    min_amount = max(step, Decimal(10) ** math.ceil(math.log10(10.0 / base_price)))
    base = pair_name(index)
    market = MarketInfo(
        symbol=f"{base}/{quote}",
        exchange_id=f"{base}{quote}",
        base=base,
        quote=quote,
        amount_precision=step,
        price_precision=Decimal(1).scaleb(-decimals),
        min_amount=min_amount,
    )
    return PairModel(index, market, base_price, volatility, base_volume, no_trade_rate, decimals)


class SyntheticMarket:
    """`pairs` seeded random-walk markets quoted in `quote`; implements `MinuteSource`."""

    end_ms: int | None = None

    def __init__(self, pairs: int = 8, seed: int = 1, quote: str = "USD", cache_blocks: int = 64) -> None:
        if not 1 <= pairs <= 1000:
            raise ValueError(f"pairs must be between 1 and 1000, got {pairs}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self.first_ms = LISTED_MS
        self.models = {m.market.symbol: m for m in (_pair_model(seed, i, quote) for i in range(pairs))}
        self.markets: Mapping[str, MarketInfo] = {s: m.market for s, m in self.models.items()}
        self._blocks: OrderedDict[tuple[int, int], _Block] = OrderedDict()
        self._cache_blocks = cache_blocks

    def _anchor(self, model: PairModel, block: int) -> float:
        """The log price a day opens at: drawn around the base price, independently per day.

        Its spread makes day-to-day changes as large as a day of the minute walk would be.
        """
        z = float(np.random.default_rng([self.seed, model.index, _ANCHOR_KIND, block]).standard_normal())
        return math.log(model.base_price) + z * model.volatility * math.sqrt(BLOCK_MINUTES / 2)

    def _block(self, model: PairModel, block: int) -> _Block:
        key = (model.index, block)
        cached = self._blocks.get(key)
        if cached is not None:
            self._blocks.move_to_end(key)
            return cached
        made = self._generate(model, block)
        self._blocks[key] = made
        if len(self._blocks) > self._cache_blocks:
            self._blocks.popitem(last=False)
        return made

    def _generate(self, model: PairModel, block: int) -> _Block:
        n = BLOCK_MINUTES
        rng = np.random.default_rng([self.seed, model.index, _WALK_KIND, block])
        start, end = self._anchor(model, block), self._anchor(model, block + 1)
        returns = rng.standard_normal(n) * model.volatility
        walk = np.cumsum(returns)
        # Brownian bridge: the walk, bent linearly so that it ends at the next day's anchor.
        levels = np.empty(n + 1)
        levels[0] = start
        levels[1:] = start + walk - np.arange(1, n + 1) / n * (walk[-1] - (end - start))
        levels[-1] = end
        d = model.decimals
        tick = 10.0**-d
        prices = np.maximum(np.round(np.exp(levels), d), tick)
        opens, closes = prices[:-1], prices[1:]
        wick_up = np.abs(rng.standard_normal(n)) * model.volatility * 0.6
        wick_down = np.abs(rng.standard_normal(n)) * model.volatility * 0.6
        top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
        highs = np.maximum(np.round(top * np.exp(wick_up), d), top)
        lows = np.maximum(np.minimum(np.round(bottom * np.exp(-wick_down), d), bottom), tick)
        activity = np.exp(0.5 * rng.standard_normal(n)) * (1 + 0.5 * np.abs(returns) / model.volatility)
        volumes = np.maximum(np.round(model.base_volume * activity, 8), 1e-4)
        traded = rng.random(n) >= model.no_trade_rate
        return _Block(opens, highs, lows, closes, volumes, traded)

    def _model(self, symbol: str) -> PairModel:
        model = self.models.get(symbol)
        if model is None:
            raise ExchangeError(unknown_market_message(symbol, self.markets))
        return model

    def candle(self, symbol: str, minute_ms: int) -> Candle | None:
        model = self._model(symbol)
        if minute_ms < self.first_ms:
            return None
        minute = minute_ms // MINUTE_MS
        block = self._block(model, minute // BLOCK_MINUTES)
        i = minute % BLOCK_MINUTES
        if not block.traded[i]:
            return None
        return Candle(
            minute * MINUTE_MS,
            float(block.open[i]),
            float(block.high[i]),
            float(block.low[i]),
            float(block.close[i]),
            float(block.volume[i]),
        )

    def closed(self, symbol: str, first_ms: int, last_ms: int) -> CandleArrays:
        model = self._model(symbol)
        first = -(-max(first_ms, self.first_ms) // MINUTE_MS)
        last = last_ms // MINUTE_MS
        parts: list[CandleArrays] = []
        blocks = range(first // BLOCK_MINUTES, last // BLOCK_MINUTES + 1) if first <= last else range(0)
        for block_index in blocks:
            block = self._block(model, block_index)
            origin = block_index * BLOCK_MINUTES
            lo, hi = max(first - origin, 0), min(last - origin, BLOCK_MINUTES - 1) + 1
            keep = np.flatnonzero(block.traded[lo:hi]) + lo
            parts.append(
                CandleArrays(
                    time=(origin + keep).astype(np.int64) * MINUTE_MS,
                    open=block.open[keep],
                    high=block.high[keep],
                    low=block.low[keep],
                    close=block.close[keep],
                    volume=block.volume[keep],
                )
            )
        return CandleArrays.concat(parts)

    def before(self, symbol: str, minute_ms: int, count: int) -> list[Candle]:
        found: list[Candle] = []
        last = minute_ms - MINUTE_MS
        while len(found) < count and last >= self.first_ms:
            first = max(last - (2 * count + 8) * MINUTE_MS, self.first_ms)
            found = self.closed(symbol, first, last).to_candles()[-(count - len(found)) :] + found
            last = first - MINUTE_MS
        return found

    def forming(self, symbol: str, minute_ms: int, steps: int) -> list[tuple[int, Candle]]:
        final = self.candle(symbol, minute_ms)
        if final is None:
            return []
        model = self.models[symbol]
        rng = forming_rng(self.seed, model.index, minute_ms)
        return forming_states(final, steps, rng, model.decimals)
