"""Candles and the markets they belong to."""

from __future__ import annotations

import msgspec

from tradewinds.domain.timeframes import Timeframe


class Candle(msgspec.Struct, frozen=True, array_like=True):
    """One OHLCV bar. `time` is the bar's open time, UTC epoch milliseconds.

    Encoded as a JSON/msgpack array `[time, open, high, low, close, volume]` to keep messages small.
    """

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def merge(self, later: Candle) -> Candle:
        """The candle covering both `self` and a `later` one (used for rollups)."""
        return Candle(
            time=self.time,
            open=self.open,
            high=max(self.high, later.high),
            low=min(self.low, later.low),
            close=later.close,
            volume=self.volume + later.volume,
        )


class Market(msgspec.Struct, frozen=True):
    """A trading pair on one exchange, e.g. `Market("bitfinex", "BTC/USD")` (ccxt's unified symbol)."""

    exchange: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    @property
    def base(self) -> str:
        return self.symbol.split("/", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/", 1)[1].split(":", 1)[0]


class SeriesKey(msgspec.Struct, frozen=True):
    """Identifies one candle series: a market at a timeframe."""

    exchange: str
    symbol: str
    timeframe: Timeframe

    @property
    def market(self) -> Market:
        return Market(self.exchange, self.symbol)

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe.value}"
