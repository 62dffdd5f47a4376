"""The latest price of each market, from the candle updates the exchange adapter streams.

Paper accounts fill at it; buys on an exchange are sized with it. A decision's own candle close is
the floor: a price older than the decision candle (nothing streamed yet after a restart, or a
replay that ended) is not used, the close the decision saw is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.trading import OrderIntent


@dataclass(frozen=True)
class Quote:
    minute_ms: int  # open time of the minute the price is the close of
    price: Decimal


class LatestPrices:
    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}

    def observe(self, update: CandleUpdate) -> None:
        """Take the update's close unless it re-sends a minute older than the newest seen."""
        candle = update.candle
        known = self._quotes.get(update.symbol)
        if known is not None and candle.time < known.minute_ms:
            return
        if not candle.close > 0:
            return
        self._quotes[update.symbol] = Quote(candle.time, Decimal(str(candle.close)))

    def get(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def for_intent(self, intent: OrderIntent) -> Decimal:
        """The price to trade `intent` at: the newest streamed close from the decision candle's last
        minute on, else the decision candle's close."""
        try:
            span = Timeframe(intent.timeframe).ms
        except ValueError:
            span = MINUTE_MS
        last_minute = intent.candle_time_ms + span - MINUTE_MS
        quote = self._quotes.get(intent.symbol)
        if quote is not None and quote.minute_ms >= last_minute:
            return quote.price
        return Decimal(str(intent.candle_close))
