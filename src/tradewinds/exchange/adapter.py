"""The one interface every venue implements (Bitfinex, any ccxt exchange, the simulator, paper)."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

import msgspec

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.timeframes import Timeframe


class ExchangeError(Exception):
    """Base of the errors an adapter raises; the message says what went wrong in plain words."""


class AuthenticationFailed(ExchangeError):
    """The exchange refused the API key or signature."""


class InsufficientFunds(ExchangeError):
    """The account does not hold enough to place the order."""


class InvalidOrder(ExchangeError):
    """The order breaks a market rule (minimum size, precision, unknown symbol)."""


class ExchangeUnavailable(ExchangeError):
    """The exchange cannot be reached, is in maintenance, or rate-limited us; retry later."""


class MarketInfo(msgspec.Struct, frozen=True):
    """A tradable spot market with the rules an order must respect."""

    symbol: str  # ccxt unified symbol, e.g. "BTC/USD"
    exchange_id: str  # the venue's own id, e.g. "tBTCUSD"
    base: str
    quote: str
    amount_precision: Decimal | None = None  # smallest amount step, if the venue says
    price_precision: Decimal | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_cost: Decimal | None = None


class Balance(msgspec.Struct, frozen=True):
    currency: str
    total: Decimal
    free: Decimal


class OrderSide(enum.Enum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"
    REJECTED = "rejected"


class OrderReport(msgspec.Struct, frozen=True):
    """What the venue says about one order."""

    order_id: str
    client_order_id: int | None
    symbol: str
    side: OrderSide
    amount: Decimal  # requested, in base currency
    filled: Decimal  # base currency filled so far
    average_price: Decimal | None
    fee: Decimal  # in `fee_currency`
    fee_currency: str | None
    status: OrderStatus
    timestamp_ms: int


@runtime_checkable
class ExchangeAdapter(Protocol):
    """One venue. Candle streams and history are 1-minute unless a timeframe is given."""

    name: str  # "bitfinex", "binance", "sim", ...

    async def list_markets(self) -> list[MarketInfo]: ...

    def stream_candles(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate]:
        """Yield 1-minute candle updates for `symbols` until cancelled.

        Reconnects by itself; after an interruption it backfills missed closed candles over REST
        (yielded with source BACKFILL) so that no closed candle is lost.
        """
        ...

    async def fetch_candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        limit: int = 1000,
    ) -> list[Candle]:
        """Closed candles with since_ms <= time <= until_ms, ascending, at most `limit`."""
        ...

    async def fetch_balances(self) -> dict[str, Balance]: ...

    async def place_market_order(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport: ...

    async def fetch_order(
        self, symbol: str, order_id: str | None = None, client_order_id: int | None = None
    ) -> OrderReport | None:
        """The order by venue id or client id, or None if the venue does not know it."""
        ...

    async def close(self) -> None: ...
