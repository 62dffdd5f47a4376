"""Any ccxt exchange as an `ExchangeAdapter`, and the ccxt -> domain conversions adapters share.

Requests go through our rate limiter (ccxt's is switched off) and ccxt's errors become the domain
errors of `exchange.adapter` with messages that name the venue and what was being done. Candles
stream through ccxt.pro's `watch_ohlcv`, one watcher per market; a watcher that fails reconnects
with back-off, and the minutes that closed meanwhile are fetched over REST and delivered as
BACKFILL before newer updates. ccxt.pro gives no way to ping a connection and see everything
before the pong, so this stream sends no liveness reports: the core closes its minutes by its
grace time (and cannot tell an outage of one market from a market without trades).
"""

from __future__ import annotations

import asyncio
import calendar
import difflib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    Balance,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    MarketInfo,
    OrderReport,
    OrderSide,
    OrderStatus,
)
from tradewinds.exchange.fan_in import UpdateFanIn
from tradewinds.exchange.ratelimit import (
    IP_BUCKET,
    Backoff,
    BucketSpec,
    RateLimiter,
    RetryPolicy,
    TokenBucket,
    api_key_bucket_name,
    call_with_backoff,
    shared_rate_limiter,
)
from tradewinds.exchange.resume import plan_resume, wall_clock_ms
from tradewinds.exchange.urls import apply_overrides, endpoint_overrides

log = logging.getLogger(__name__)

T = TypeVar("T")

# ----------------------------------------------------------------------------- conversions


def to_decimal(value: Any) -> Decimal | None:
    """A Decimal from a ccxt number or numeric string (through `str`, so 0.1 stays 0.1)."""
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def candle_from_ohlcv(row: Sequence[Any]) -> Candle:
    """A candle from ccxt's `[timestamp, open, high, low, close, volume]`."""
    if len(row) < 6 or any(value is None for value in row[:5]):
        raise ValueError(f"incomplete OHLCV row {list(row)!r}")
    return Candle(
        time=int(row[0]),
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5] or 0.0),
    )


def step_from_precision(value: Any, precision_mode: int) -> Decimal | None:
    """The smallest step a ccxt precision stands for; None when it counts significant digits."""
    number = to_decimal(value)
    if number is None:
        return None
    if precision_mode == TICK_SIZE:
        return number
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    return None  # SIGNIFICANT_DIGITS: the step depends on the price


def market_info_from_ccxt(market: Mapping[str, Any], precision_mode: int) -> MarketInfo:
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    return MarketInfo(
        symbol=market["symbol"],
        exchange_id=str(market["id"]),
        base=market["base"],
        quote=market["quote"],
        amount_precision=step_from_precision(precision.get("amount"), precision_mode),
        price_precision=step_from_precision(precision.get("price"), precision_mode),
        min_amount=to_decimal(amount_limits.get("min")),
        max_amount=to_decimal(amount_limits.get("max")),
        min_cost=to_decimal(cost_limits.get("min")),
    )


_BALANCE_META_KEYS = {"info", "free", "used", "total", "timestamp", "datetime", "debt"}


def balances_from_ccxt(balance: Mapping[str, Any]) -> dict[str, Balance]:
    """Per-currency balances from a ccxt balance structure (currency codes are ccxt's, e.g. USDT)."""
    result: dict[str, Balance] = {}
    for currency, entry in balance.items():
        if currency in _BALANCE_META_KEYS or not isinstance(entry, Mapping):
            continue
        total = to_decimal(entry.get("total"))
        free = to_decimal(entry.get("free"))
        if total is None and free is None:
            continue
        if total is None:
            total = (free or Decimal(0)) + (to_decimal(entry.get("used")) or Decimal(0))
        if free is None:
            free = total - (to_decimal(entry.get("used")) or Decimal(0))
        result[currency] = Balance(currency=currency, total=total, free=free)
    return result


_ORDER_STATUSES = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.CLOSED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def fee_from_ccxt(fees: Sequence[Mapping[str, Any] | None]) -> tuple[Decimal, str | None]:
    """Total fee and its currency from ccxt fee entries (in the first currency charged)."""
    total = Decimal(0)
    currency: str | None = None
    for fee in fees:
        if not fee:
            continue
        cost = to_decimal(fee.get("cost"))
        if cost is None:
            continue
        if currency is None:
            currency = fee.get("currency")
        if fee.get("currency") == currency:
            total += cost
        else:
            log.warning("fee in a second currency ignored: %s %s", fee.get("cost"), fee.get("currency"))
    return total, currency


def client_order_id_of(order: Mapping[str, Any]) -> int | None:
    raw = order.get("clientOrderId")
    if raw is None:
        return None
    text = str(raw)
    return int(text) if text.isdigit() else None


def order_report_from_ccxt(
    order: Mapping[str, Any],
    *,
    symbol: str,
    side: OrderSide | None = None,
    amount: Decimal | None = None,
    client_order_id: int | None = None,
    fee: tuple[Decimal, str | None] | None = None,
    now_ms: int = 0,
) -> OrderReport:
    """An OrderReport from a ccxt order; the keyword values fill what the venue left out."""
    order_side = OrderSide(order["side"]) if order.get("side") in ("buy", "sell") else side
    if order_side is None:
        raise ExchangeError(f"the order {order.get('id')} of {symbol} has no side")
    ordered = to_decimal(order.get("amount"))
    ordered = ordered if ordered is not None else amount
    if ordered is None:
        raise ExchangeError(f"the order {order.get('id')} of {symbol} has no amount")
    filled = to_decimal(order.get("filled"))
    if filled is None:
        remaining = to_decimal(order.get("remaining"))
        filled = ordered - remaining if remaining is not None else Decimal(0)
    average = to_decimal(order.get("average"))
    if fee is None:
        fee = fee_from_ccxt([*(order.get("fees") or []), *([] if order.get("fees") else [order.get("fee")])])
    status = _ORDER_STATUSES.get(str(order.get("status")), OrderStatus.OPEN)
    timestamp = order.get("lastUpdateTimestamp") or order.get("timestamp") or now_ms
    cid = client_order_id_of(order)
    return OrderReport(
        order_id=str(order["id"]),
        client_order_id=cid if cid is not None else client_order_id,
        symbol=order.get("symbol") or symbol,
        side=order_side,
        amount=ordered,
        filled=filled,
        average_price=average if average else None,
        fee=fee[0],
        fee_currency=fee[1],
        status=status,
        timestamp_ms=int(timestamp),
    )


def _detail(exc: BaseException, exchange_id: str) -> str:
    """ccxt's message without its leading exchange id."""
    text = str(exc).strip()
    prefix = exchange_id + " "
    return text[len(prefix) :] if text.startswith(prefix) else text


def domain_error(exc: BaseException, venue: str, exchange_id: str, action: str) -> ExchangeError:
    """The domain error for a ccxt error raised while trying to `action` on `venue`."""
    detail = _detail(exc, exchange_id)
    if isinstance(exc, ccxt.InvalidNonce):
        return AuthenticationFailed(
            f"{venue} rejected the request nonce while trying to {action}: {detail}. Another program "
            "probably uses the same API key; give each program its own key"
        )
    if isinstance(exc, ccxt.PermissionDenied) and "invalid order" in detail.lower():
        # Bitfinex answers most order refusals with code 10001, which ccxt calls PermissionDenied.
        return InvalidOrder(f"{venue} refused the order ({action}): {detail}")
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationFailed(f"{venue} rejected the API key: {detail}")
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFunds(f"{venue}: not enough funds to {action}: {detail}")
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadSymbol | ccxt.BadRequest):
        return InvalidOrder(f"{venue} refused to {action}: {detail}")
    if isinstance(exc, ccxt.OnMaintenance):
        return ExchangeUnavailable(f"{venue} is in maintenance; could not {action}: {detail}")
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return ExchangeUnavailable(f"{venue} rate-limited us; could not {action}: {detail}")
    if isinstance(exc, ccxt.NetworkError):
        return ExchangeUnavailable(f"{venue} cannot be reached; could not {action}: {detail}")
    return ExchangeError(f"{venue} refused to {action}: {detail}")


def is_rate_limited(exc: BaseException) -> bool:
    return isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection)


def unknown_exchange_message(exchange_id: str) -> str:
    close = difflib.get_close_matches(exchange_id.lower(), ccxt.exchanges, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (
        f"unknown exchange id {exchange_id!r}.{hint} Tradewinds uses ccxt's ids (lower case, e.g. "
        f"'binance', 'kraken', 'bitfinex'); list all {len(ccxt.exchanges)} with: "
        'python -c "import ccxt; print(ccxt.exchanges)"'
    )


# ----------------------------------------------------------------------------- the adapter


@dataclass(frozen=True)
class VenueLimits:
    """Request budgets for one venue (per process, i.e. per IP address)."""

    rest_per_minute: float | None = None  # None: what ccxt's `rateLimit` for the venue allows
    candles_per_minute: float | None = None  # None: candles share the REST budget
    key_per_minute: float | None = None  # signed requests per API key; None: as REST
    ip_per_minute: float = 1200.0  # all exchange requests of the process together
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class CcxtStreamSettings:
    silence_timeout_s: float = 120.0  # no update from any market for this long: reconnect
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    close_grace_ms: int = 2_000
    tail: int = 3  # the newest candles compared on each update (re-sent earlier minutes included)
    queue_size: int = 10_000


class CcxtAdapter:
    """An exchange through ccxt (REST) and ccxt.pro (streaming), e.g. `CcxtAdapter("binance")`."""

    venue_page_is_exact = False  # True: a page shorter than asked means the history ends there

    def __init__(
        self,
        exchange_id: str,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        password: str | None = None,
        limits: VenueLimits | None = None,
        limiter: RateLimiter | None = None,
        stream_settings: CcxtStreamSettings | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
        env: Mapping[str, str] | None = None,
        page_size: int = 1000,
        timeout_ms: int = 10_000,
    ) -> None:
        if exchange_id not in ccxt.exchanges:
            raise ExchangeError(unknown_exchange_message(exchange_id))
        self.name = exchange_id
        self._now_ms = now_ms
        self._page_size = page_size
        self.stream_settings = stream_settings or CcxtStreamSettings()
        config: dict[str, Any] = {"enableRateLimit": False, "timeout": timeout_ms, "newUpdates": False}
        if api_key:
            config.update(apiKey=api_key, secret=secret or "")
        if password:
            config["password"] = password
        self.exchange: Any = self._create_exchange(config, env)
        self.venue: str = str(getattr(self.exchange, "name", None) or exchange_id)
        self._limiter = limiter or shared_rate_limiter()
        self._limits = limits or VenueLimits()
        self._buckets = self._make_buckets(api_key)
        self._markets_loaded = False
        self._markets_lock = asyncio.Lock()

    # -------------------------------------------------------------- construction hooks

    def _create_exchange(self, config: dict[str, Any], env: Mapping[str, str] | None) -> Any:
        cls = getattr(ccxt_pro, self.name, None) or getattr(ccxt_async, self.name)
        exchange = cls(config)
        apply_overrides(exchange, endpoint_overrides(self.name, env))
        return exchange

    def _make_buckets(self, api_key: str | None) -> dict[str, list[TokenBucket]]:
        limits = self._limits
        rate_limit_ms = float(getattr(self.exchange, "rateLimit", 0) or 0)
        rest_limit = limits.rest_per_minute or (60_000.0 / rate_limit_ms if rate_limit_ms > 0 else 600.0)
        limiter = self._limiter
        ip = limiter.bucket(IP_BUCKET, BucketSpec.for_limit(limits.ip_per_minute))
        rest = limiter.bucket(f"{self.name}:rest", BucketSpec.for_limit(rest_limit))
        candles = rest
        if limits.candles_per_minute is not None:
            candles = limiter.bucket(f"{self.name}:candles", BucketSpec.for_limit(limits.candles_per_minute))
        signed = [ip, rest]
        if api_key:
            key_limit = limits.key_per_minute or rest_limit
            signed.append(
                limiter.bucket(api_key_bucket_name(self.name, api_key), BucketSpec.for_limit(key_limit))
            )
        return {"rest": [ip, rest], "candles": [ip, candles], "signed": signed}

    # -------------------------------------------------------------- plumbing

    async def _call(
        self, action: str, request: Callable[[], Awaitable[T]], kind: str = "rest", cost: float = 1
    ) -> T:
        try:
            return await call_with_backoff(
                self._limiter,
                self._buckets[kind],
                request,
                is_rate_limited,
                self._limits.retry,
                f"{self.venue}: {action}",
                cost,
            )
        except ccxt.BaseError as exc:
            raise domain_error(exc, self.venue, self.name, action) from exc

    async def _load_markets(self) -> dict[str, Any]:
        async with self._markets_lock:
            if not self._markets_loaded:
                await self._call("load its markets", lambda: self.exchange.load_markets(), cost=2)
                self._markets_loaded = True
        markets: dict[str, Any] = self.exchange.markets
        return markets

    async def _market(self, symbol: str, for_order: bool = False) -> dict[str, Any]:
        markets = await self._load_markets()
        market = markets.get(symbol)
        if market is not None:
            return dict(market)
        close = difflib.get_close_matches(symbol.upper(), list(markets), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        message = f"{self.venue} has no market {symbol!r} (symbols look like 'BTC/USD'){hint}"
        raise InvalidOrder(message) if for_order else ExchangeError(message)

    def _is_listed(self, market: Mapping[str, Any]) -> bool:
        return bool(market.get("spot")) and market.get("active") is not False

    # -------------------------------------------------------------- ExchangeAdapter

    async def list_markets(self) -> list[MarketInfo]:
        markets = await self._load_markets()
        mode = int(self.exchange.precisionMode)
        return [self._market_info(m, mode) for m in markets.values() if self._is_listed(m)]

    def _market_info(self, market: Mapping[str, Any], precision_mode: int) -> MarketInfo:
        return market_info_from_ccxt(market, precision_mode)

    async def fetch_candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        limit: int = 1000,
    ) -> list[Candle]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        await self._market(symbol)
        now = self._now_ms()
        until = now if until_ms is None else min(until_ms, now)
        native = self.exchange.timeframes or {}
        if timeframe.value in native:
            candles = await self._fetch_series(symbol, timeframe, since_ms, until, limit)
        else:
            candles = await self._fetch_rolled_up(symbol, timeframe, since_ms, until, limit, native)
        # Only closed candles: the forming one would change after the caller stored it.
        return [c for c in candles if since_ms <= c.time <= until and c.time + timeframe.ms <= now][:limit]

    async def _fetch_series(
        self, symbol: str, timeframe: Timeframe, since_ms: int, until_ms: int, limit: int
    ) -> list[Candle]:
        """Candles of a timeframe the venue serves, page by page, ascending and without repeats."""
        found: dict[int, Candle] = {}
        cursor = since_ms
        while len(found) < limit and cursor <= until_ms:
            page = min(self._page_size, limit - len(found))
            start = cursor
            rows = await self._call(
                f"fetch {timeframe.value} candles of {symbol}",
                functools.partial(
                    self.exchange.fetch_ohlcv,
                    symbol,
                    timeframe.value,
                    since=start,
                    limit=page,
                    params={"until": until_ms},
                ),
                kind="candles",
            )
            batch = [c for c in _candles(rows) if start <= c.time <= until_ms]
            for candle in batch:
                found[candle.time] = candle
            if not batch:
                break
            cursor = max(c.time for c in batch) + timeframe.ms
            if self.venue_page_is_exact and len(rows) < page:
                break
        return [found[t] for t in sorted(found)]

    async def _fetch_rolled_up(
        self,
        symbol: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int,
        limit: int,
        native: Mapping[str, Any],
    ) -> list[Candle]:
        """A timeframe the venue lacks (e.g. 3m), built from the largest one it has that divides it."""
        bases = [
            tf
            for tf in Timeframe
            if tf.value in native and timeframe.ms % tf.ms == 0 and tf.ms < timeframe.ms
        ]
        if not bases:
            served = ", ".join(sorted(native))
            raise ExchangeError(
                f"{self.venue} has no {timeframe.value} candles nor a smaller period to build them "
                f"from ({served})"
            )
        base = max(bases, key=lambda tf: tf.ms)
        first = -(-since_ms // timeframe.ms) * timeframe.ms  # the first bucket opening at or after since
        last = timeframe.bucket_start(until_ms) + timeframe.ms - base.ms
        per_bucket = timeframe.ms // base.ms
        parts = await self._fetch_series(symbol, base, first, last, limit * per_bucket)
        rolled: dict[int, Candle] = {}
        for part in parts:
            bucket = timeframe.bucket_start(part.time)
            known = rolled.get(bucket)
            rolled[bucket] = part if known is None else known.merge(part)
        return [Candle(t, c.open, c.high, c.low, c.close, c.volume) for t, c in sorted(rolled.items())]

    async def fetch_balances(self) -> dict[str, Balance]:
        balance = await self._call("fetch the balances", lambda: self.exchange.fetch_balance(), kind="signed")
        return balances_from_ccxt(balance)

    def _client_order_params(self, client_order_id: int) -> dict[str, Any]:
        # An int: ccxt's exchanges read it with safe_string (-> "42") or take it as is (Bitfinex's cid).
        return {"clientOrderId": client_order_id}

    async def place_market_order(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport:
        if amount <= 0:
            raise InvalidOrder(f"the amount of a {symbol} order must be positive, got {amount}")
        await self._market(symbol, for_order=True)
        params = self._client_order_params(client_order_id)
        order = await self._call(
            f"place a market {side.value} of {amount} {symbol}",
            lambda: self.exchange.create_order(symbol, "market", side.value, float(amount), None, params),
            kind="signed",
        )
        return order_report_from_ccxt(
            order,
            symbol=symbol,
            side=side,
            amount=amount,
            client_order_id=client_order_id,
            now_ms=self._now_ms(),
        )

    async def fetch_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: int | None = None,
        *,
        placed_day: str | None = None,
    ) -> OrderReport | None:
        """By venue id, or by client id; `placed_day` (YYYY-MM-DD, UTC) is the day the client id was
        used, for venues where a client id is unique per day only (Bitfinex)."""
        if order_id is None and client_order_id is None:
            raise ValueError("fetch_order needs an order_id or a client_order_id")
        await self._market(symbol)
        if order_id is not None:
            order = await self._order_by_id(symbol, order_id)
        else:
            assert client_order_id is not None
            order = await self._order_by_client_id(symbol, client_order_id, placed_day)
        if order is None or order.get("id") is None:
            return None
        fee = await self._order_fee(symbol, order)
        return order_report_from_ccxt(order, symbol=symbol, fee=fee, now_ms=self._now_ms())

    async def _order_by_id(self, symbol: str, order_id: str) -> dict[str, Any] | None:
        try:
            order: dict[str, Any] = await self._call(
                f"fetch order {order_id} of {symbol}",
                lambda: self.exchange.fetch_order(order_id, symbol),
                kind="signed",
            )
        except InvalidOrder as exc:
            if isinstance(exc.__cause__, ccxt.OrderNotFound):
                return None
            raise
        return order

    async def _order_by_client_id(
        self, symbol: str, client_order_id: int, placed_day: str | None = None
    ) -> dict[str, Any] | None:
        """Look through open, then closed orders (since the day before `placed_day`, when given, so
        an order placed before a restart is in the answer): not every venue finds by client id."""
        has = self.exchange.has
        since = _day_before_ms(placed_day)
        sources: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if has.get("fetchOpenOrders"):
            sources.append(
                ("fetch open orders of " + symbol, lambda: self.exchange.fetch_open_orders(symbol))
            )
        if has.get("fetchClosedOrders"):
            sources.append(
                ("fetch closed orders of " + symbol, lambda: self.exchange.fetch_closed_orders(symbol, since))
            )
        if not sources:
            raise ExchangeError(f"{self.venue} cannot list orders, so orders cannot be found by client id")
        for action, request in sources:
            orders = await self._call(action, request, kind="signed")
            for order in orders:
                if client_order_id_of(order) == client_order_id:
                    return dict(order)
        return None

    async def _order_fee(self, symbol: str, order: Mapping[str, Any]) -> tuple[Decimal, str | None] | None:
        """The fee from the order's trades when the order itself does not carry it."""
        if order.get("fee") or order.get("fees"):
            return None
        filled = to_decimal(order.get("filled")) or Decimal(0)
        if filled <= 0 or not self.exchange.has.get("fetchOrderTrades"):
            return None
        trades = await self._call(
            f"fetch the trades of order {order['id']} of {symbol}",
            lambda: self.exchange.fetch_order_trades(str(order["id"]), symbol),
            kind="signed",
        )
        return fee_from_ccxt([t.get("fee") for t in trades])

    def stream_candles(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate]:
        return self._stream(list(symbols))

    async def _stream(self, symbols: list[str]) -> AsyncIterator[CandleUpdate]:
        if not self.exchange.has.get("watchOHLCV"):
            raise ExchangeError(
                f"{self.venue} has no candle stream in ccxt.pro (watchOHLCV); Tradewinds cannot stream it"
            )
        for symbol in symbols:
            await self._market(symbol)
        stream = _CcxtCandleStream(self, symbols)
        async for update in stream.updates():
            yield update

    async def close(self) -> None:
        await self.exchange.close()


def _day_before_ms(day: str | None) -> int | None:
    """Epoch milliseconds of 00:00 UTC the day before `day` (YYYY-MM-DD); None without a day."""
    if day is None:
        return None
    try:
        start = time.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"a day looks like 2024-01-31, got {day!r}") from None
    return (calendar.timegm(start) - 24 * 3600) * 1000


def _candles(rows: Sequence[Sequence[Any]]) -> list[Candle]:
    candles = []
    for row in rows:
        try:
            candles.append(candle_from_ohlcv(row))
        except (ValueError, TypeError) as exc:
            log.warning("ignoring a malformed candle: %s", exc)
    return candles


class _CcxtCandleStream:
    """One ccxt.pro watcher per market, plus a watchdog that reconnects a silent stream."""

    def __init__(self, adapter: CcxtAdapter, symbols: list[str]) -> None:
        self._adapter = adapter
        self._exchange = adapter.exchange
        self._settings = adapter.stream_settings
        self._symbols = symbols
        self._fan_in: UpdateFanIn[CandleUpdate] = UpdateFanIn(self._settings.queue_size)
        self._last_message = time.monotonic()
        self.reconnects = 0

    async def updates(self) -> AsyncIterator[CandleUpdate]:
        watchers = [(f"watch-{symbol}", self._watch(symbol)) for symbol in self._symbols]
        async for update in self._fan_in.updates([*watchers, ("watchdog", self._watchdog())]):
            yield update

    async def _emit(self, symbol: str, candle: Candle, source: UpdateSource) -> None:
        update = CandleUpdate(
            self._adapter.name, symbol, candle, source=source, received_ms=self._adapter._now_ms()
        )
        await self._fan_in.put(update)

    async def _watch(self, symbol: str) -> None:
        settings = self._settings
        backoff = Backoff(settings.reconnect_initial_s, settings.reconnect_max_s)
        last_seen: int | None = None
        delivered: dict[int, Candle] = {}
        resuming = True
        while True:
            try:
                rows = await self._exchange.watch_ohlcv(
                    symbol, "1m", None, None if resuming else settings.tail
                )
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise
                # ccxt cancelled the watch itself (it closed the connection): watch again.
                resuming = True
                continue
            except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
                delay = backoff.next_delay()
                log.warning(
                    "%s %s stream: %s; watching again in %.1f s", self._adapter.venue, symbol, exc, delay
                )
                resuming = True
                await asyncio.sleep(delay)
                continue
            self._last_message = time.monotonic()
            backoff.reset()
            candles = sorted(_candles(rows), key=lambda c: c.time)
            if resuming:
                resuming = False
                last_seen = await self._resume(symbol, last_seen, candles)
                # Everything in the cache is now delivered (or closed and backfilled).
                delivered = {c.time: c for c in candles[-settings.tail :]}
                continue
            for candle in candles[-settings.tail :]:
                if delivered.get(candle.time) != candle:
                    delivered[candle.time] = candle
                    await self._emit(symbol, candle, UpdateSource.LIVE)
                    last_seen = candle.time if last_seen is None else max(last_seen, candle.time)
            if last_seen is not None:
                horizon = last_seen - settings.tail * MINUTE_MS
                for old in [t for t in delivered if t < horizon]:
                    del delivered[old]

    async def _resume(self, symbol: str, last_seen: int | None, candles: list[Candle]) -> int | None:
        """Deliver what closed while the market was not watched; the newest time delivered after."""
        plan = plan_resume(
            last_seen, candles, self._adapter._now_ms(), self._settings.close_grace_ms, trust_snapshot=False
        )
        delivered = [] if last_seen is None else [last_seen]
        if plan.fetch is not None:
            since, until = plan.fetch
            try:
                missed = await self._adapter.fetch_candles(symbol, Timeframe.M1, since, until, limit=100_000)
            except ExchangeError as exc:
                log.error(
                    "%s %s: could not backfill minutes %d..%d: %s",
                    self._adapter.venue,
                    symbol,
                    since,
                    until,
                    exc,
                )
                missed = []
            for candle in missed:
                await self._emit(symbol, candle, UpdateSource.BACKFILL)
                delivered.append(candle.time)
        for candle in plan.current:
            await self._emit(symbol, candle, UpdateSource.SNAPSHOT)
            delivered.append(candle.time)
        return max(delivered, default=None)

    async def _watchdog(self) -> None:
        timeout = self._settings.silence_timeout_s
        while True:
            await asyncio.sleep(timeout / 4)
            if time.monotonic() - self._last_message > timeout:
                log.warning("%s stream silent for %.1f s; reconnecting", self._adapter.venue, timeout)
                self.reconnects += 1
                self._last_message = time.monotonic()
                # Fail the pending watches first, so the watchers see an error and resume.
                silent = ccxt.NetworkError(f"no message for {timeout:.1f} s")
                for client in list(self._exchange.clients.values()):
                    client.reject(silent)
                await self._exchange.close_ws_clients()
