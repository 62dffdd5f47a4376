"""Bitfinex as an `ExchangeAdapter`: ccxt for REST, our own WebSocket client for candles.

What differs from the generic ccxt adapter: Bitfinex's published budgets (30 candle requests and
90 other requests per minute), 10,000-candle pages, integer client order ids (`cid`), finding an
order among active and past orders, and the candle stream of `bitfinex.stream`, which survives
restarts and maintenance that ccxt.pro ignores.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, StreamAlive
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import InvalidOrder, MarketInfo
from tradewinds.exchange.bitfinex.stream import BitfinexCandleStream, StreamSettings
from tradewinds.exchange.ccxt_adapter import (
    CcxtAdapter,
    VenueLimits,
    client_order_id_of,
    market_info_from_ccxt,
)
from tradewinds.exchange.ratelimit import RateLimiter
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.exchange.urls import BitfinexEndpoints, apply_bitfinex_endpoints, bitfinex_endpoints

# The candles endpoint is documented at 30, 60 and 90 requests per minute: budget the lowest.
BITFINEX_LIMITS = VenueLimits(rest_per_minute=90, candles_per_minute=30, key_per_minute=90)
MAX_CANDLES_PER_REQUEST = 10_000
MAX_CLIENT_ORDER_ID = 2**45 - 1  # Bitfinex's cid is an int45
ORDER_HISTORY_LIMIT = 2_500  # the most orders one history request returns (about two weeks)
MAX_HISTORY_PAGES = 40  # pages searched for an order by cid when its day is unknown
DAY_MS = 24 * 60 * MINUTE_MS
CLOCK_MARGIN_MS = 5 * MINUTE_MS  # how far our clock and Bitfinex's may disagree at midnight
AMOUNT_STEP = Decimal("1e-8")  # amounts have 8 decimals; prices 5 significant digits (no fixed step)


class BitfinexAdapter(CcxtAdapter):
    venue_page_is_exact = True

    def __init__(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        limits: VenueLimits | None = None,
        limiter: RateLimiter | None = None,
        stream_settings: StreamSettings | None = None,
        endpoints: BitfinexEndpoints | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
        env: Mapping[str, str] | None = None,
        page_size: int = MAX_CANDLES_PER_REQUEST,
        timeout_ms: int = 10_000,
    ) -> None:
        if not 1 <= page_size <= MAX_CANDLES_PER_REQUEST:
            raise ValueError(f"page_size must be 1..{MAX_CANDLES_PER_REQUEST}, got {page_size}")
        self.endpoints = endpoints or bitfinex_endpoints(env)
        self.ws_settings = stream_settings or StreamSettings()
        self.last_stream: BitfinexCandleStream | None = None
        super().__init__(
            "bitfinex",
            api_key,
            secret,
            limits=limits or BITFINEX_LIMITS,
            limiter=limiter,
            now_ms=now_ms,
            env=env,
            page_size=page_size,
            timeout_ms=timeout_ms,
        )

    def _create_exchange(self, config: dict[str, Any], env: Mapping[str, str] | None) -> Any:
        exchange = ccxt_async.bitfinex(config)
        apply_bitfinex_endpoints(exchange, self.endpoints)
        return exchange

    def _market_info(self, market: Mapping[str, Any], precision_mode: int) -> MarketInfo:
        info = market_info_from_ccxt(market, precision_mode)
        # ccxt counts both precisions in significant digits; Bitfinex's amounts really have 8 decimals.
        return MarketInfo(
            symbol=info.symbol,
            exchange_id=info.exchange_id,
            base=info.base,
            quote=info.quote,
            amount_precision=AMOUNT_STEP,
            price_precision=None,
            min_amount=info.min_amount,
            max_amount=info.max_amount,
            min_cost=info.min_cost,
        )

    def _client_order_params(self, client_order_id: int) -> dict[str, Any]:
        if not 0 < client_order_id <= MAX_CLIENT_ORDER_ID:
            raise InvalidOrder(
                f"Bitfinex client order ids must be 1..{MAX_CLIENT_ORDER_ID} (int45), got {client_order_id}"
            )
        return {"cid": client_order_id}

    async def _order_by_id(self, symbol: str, order_id: str) -> dict[str, Any] | None:
        if not order_id.isdigit():
            raise InvalidOrder(f"Bitfinex order ids are numbers, got {order_id!r}")
        # ccxt's fetch_order only sees active orders: look there, then in the order history.
        lookups = (
            ("fetch active order", self.exchange.fetch_open_order),
            ("fetch past order", self.exchange.fetch_closed_order),
        )
        for action, lookup in lookups:
            try:
                order: dict[str, Any] = await self._call(
                    f"{action} {order_id} of {symbol}",
                    functools.partial(lookup, order_id, symbol),
                    "signed",
                )
                return order
            except InvalidOrder as exc:
                if not isinstance(exc.__cause__, ccxt.OrderNotFound):
                    raise
        return None

    async def _order_by_client_id(
        self, symbol: str, client_order_id: int, placed_day: str | None = None
    ) -> dict[str, Any] | None:
        """The order with this `cid` created on `placed_day` (UTC; any day when None, newest first).

        A cid is unique per UTC day only, so the day is part of the order's identity. Active orders
        first, then the history, page by page back in time (2,500 orders a page) until the start of
        that day, or `MAX_HISTORY_PAGES` pages without a day: an order placed before a restart is
        found however many orders came after it."""
        day_start = _day_start_ms(placed_day)
        exchange = self.exchange

        def matches(order: Mapping[str, Any]) -> bool:
            if client_order_id_of(order) != client_order_id:
                return False
            if day_start is None:
                return True
            # Bitfinex dates the cid by its own clock: near midnight that may be the other day.
            return day_start - CLOCK_MARGIN_MS <= _created_ms(order) < day_start + DAY_MS + CLOCK_MARGIN_MS

        active = await self._call(
            "fetch active orders of " + symbol, lambda: exchange.fetch_open_orders(symbol), kind="signed"
        )
        for order in active:
            if matches(order):
                return dict(order)
        until: int | None = None
        page_size = ORDER_HISTORY_LIMIT
        since = None if day_start is None else day_start - CLOCK_MARGIN_MS
        for _ in range(MAX_HISTORY_PAGES):
            params = {} if until is None else {"until": until}
            page = await self._call(
                "fetch past orders of " + symbol,
                functools.partial(exchange.fetch_closed_orders, symbol, since, page_size, params),
                kind="signed",
            )
            for order in page:
                if matches(order):
                    return dict(order)
            updated = [int(o.get("lastUpdateTimestamp") or o.get("timestamp") or 0) for o in page]
            if len(page) < page_size or not updated:
                return None
            until = min(updated) - 1  # the history is newest first: the next page is older
            if since is not None and until < since:
                return None
        return None

    async def backfill_minutes(self, symbol: str, since_ms: int, until_ms: int) -> list[Candle]:
        """Closed 1-minute candles with since_ms <= time <= until_ms (for the stream's catch-up)."""
        count = (until_ms - since_ms) // MINUTE_MS + 1
        return await self.fetch_candles(symbol, Timeframe.M1, since_ms, until_ms, limit=max(1, count))

    async def _stream(self, symbols: list[str]) -> AsyncIterator[CandleUpdate]:
        async for item in self.stream_market_data(symbols):
            if isinstance(item, CandleUpdate):
                yield item

    async def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate | StreamAlive]:
        """The candle stream with its liveness reports (`exchange.service.ReportsLiveness`)."""
        ids = {symbol: str((await self._market(symbol))["id"]) for symbol in symbols}
        stream = BitfinexCandleStream(
            ids,
            self.backfill_minutes,
            self.ws_settings,
            ws_url=self.endpoints.ws,
            limiter=self._limiter,
            now_ms=self._now_ms,
        )
        self.last_stream = stream
        async for update in stream.updates():
            yield update


def _day_start_ms(day: str | None) -> int | None:
    """Epoch milliseconds of 00:00 UTC on `day` (YYYY-MM-DD)."""
    if day is None:
        return None
    try:
        start = datetime.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise ValueError(f"a cid date looks like 2024-01-31, got {day!r}") from None
    return int(start.timestamp() * 1000)


def _created_ms(order: Mapping[str, Any]) -> int:
    """When Bitfinex created the order (MTS_CREATE, the field its cid date counts from)."""
    info = order.get("info")
    if isinstance(info, list) and len(info) > 4 and isinstance(info[4], int | float):
        return int(info[4])
    return int(order.get("timestamp") or 0)
