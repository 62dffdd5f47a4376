"""A candle CSV replayed as a market: history is the rows before the replay position."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.exchange.adapter import (
    ExchangeError,
    MarketInfo,
)
from tradewinds.exchange.paper import split_symbol
from tradewinds.exchange.sim.source import forming_rng, forming_states, unknown_market_message


class ReplayTape:
    """The 1-minute candles of one market from a file, as a `MinuteSource`."""

    def __init__(self, candles: CandleArrays, symbol: str = "BTC/USD", seed: int = 1) -> None:
        currencies = split_symbol(symbol)
        if currencies is None:
            raise ValueError(f"{symbol!r} is not a market symbol (symbols look like 'BTC/USD')")
        if len(candles) == 0:
            raise ValueError("there are no candles to replay")
        if np.any(candles.time % MINUTE_MS):
            raise ValueError("replay needs 1-minute candles; some rows do not open on a minute")
        if len(candles) > 1 and int(np.min(np.diff(candles.time))) != MINUTE_MS:
            raise ValueError("replay needs 1-minute candles; no two rows are one minute apart")
        self.symbol = symbol
        self.seed = seed
        self.tape = candles
        base, quote = currencies
        self.markets: Mapping[str, MarketInfo] = {
            symbol: MarketInfo(
                symbol=symbol,
                exchange_id=f"{base}{quote}",
                base=base,
                quote=quote,
                amount_precision=Decimal("0.00000001"),
                min_amount=Decimal("0.00001"),
            )
        }
        self.first_ms = int(candles.time[0])
        self.end_ms: int | None = int(candles.time[-1]) + MINUTE_MS

    def _check(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise ExchangeError(unknown_market_message(symbol, self.markets))

    def _index(self, minute_ms: int) -> int:
        """Position of the first row opening at or after `minute_ms`."""
        return int(np.searchsorted(self.tape.time, minute_ms, side="left"))

    def candle(self, symbol: str, minute_ms: int) -> Candle | None:
        self._check(symbol)
        i = self._index(minute_ms)
        if i < len(self.tape) and int(self.tape.time[i]) == minute_ms:
            return self.tape.slice(i, i + 1).to_candles()[0]
        return None

    def closed(self, symbol: str, first_ms: int, last_ms: int) -> CandleArrays:
        self._check(symbol)
        return self.tape.slice(self._index(first_ms), self._index(last_ms + 1))

    def before(self, symbol: str, minute_ms: int, count: int) -> list[Candle]:
        self._check(symbol)
        end = self._index(minute_ms)
        return self.tape.slice(max(0, end - count), end).to_candles()

    def forming(self, symbol: str, minute_ms: int, steps: int) -> list[tuple[int, Candle]]:
        final = self.candle(symbol, minute_ms)
        if final is None:
            return []
        rng = forming_rng(self.seed, 0, minute_ms)
        return forming_states(final, steps, rng)
