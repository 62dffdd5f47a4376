"""Bitfinex 1-minute candles over the public WebSocket, kept alive through restarts and maintenance.

ccxt.pro ignores Bitfinex's info events (restart 20051, maintenance 20060/20061), so this client is
ours. Markets are spread over several connections (at most `channels_per_connection` each), opened
no faster than the venue allows. A connection that is closed, restarts, or goes silent (no message,
not even a heartbeat, for `silence_timeout_s`) is reopened with exponential back-off and jitter.
Every (re)subscription starts with a snapshot; after an interruption the minutes that closed unseen
are delivered as BACKFILL (from the snapshot, or fetched over REST) before any newer update.

Liveness: each connection pings after every minute boundary (and once its markets have caught up
after a (re)subscription). The pong comes after everything the venue sent before it, so it proves
the markets of that connection complete up to when the ping left: reported as `StreamAlive`,
in stream order. A market that is catching up, paused by maintenance or on a connection being
reopened is left out, so the core waits for its backfill instead of closing minutes by the clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, StreamAlive, UpdateSource
from tradewinds.exchange.bitfinex import wire
from tradewinds.exchange.bitfinex.liveness import ConnectionPinger
from tradewinds.exchange.fan_in import UpdateFanIn
from tradewinds.exchange.ratelimit import Backoff, BucketSpec, RateLimiter, shared_rate_limiter
from tradewinds.exchange.resume import plan_resume, wall_clock_ms
from tradewinds.exchange.urls import BITFINEX_WS

log = logging.getLogger(__name__)

EXCHANGE = "bitfinex"

# Fetches closed 1-minute candles of a market (unified symbol) with since <= time <= until.
Backfill = Callable[[str, int, int], Awaitable[list[Candle]]]


@dataclass(frozen=True)
class StreamSettings:
    channels_per_connection: int = 25  # the venue allows 25 to 30 public channels per connection
    connections_per_minute: float = 20  # the venue's limit for new public connections
    connection_burst: int = 5
    heartbeat_s: float = 15.0  # the venue sends a heartbeat on an idle channel this often
    silence_timeout_s: float = 45.0  # no message at all for this long: the connection is dead
    maintenance_timeout_s: float = 600.0  # no end of maintenance (20061) after this: reconnect
    connect_timeout_s: float = 15.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    healthy_after_s: float = 30.0  # a connection that lived this long resets the back-off
    close_grace_ms: int = 2_000  # a minute counts as closed this long after it ends
    ping_after_minute_ms: int = 2_000  # each connection pings this long after a minute boundary
    backfill_attempts: int = 3
    backfill_retry_s: float = 2.0
    queue_size: int = 10_000

    def __post_init__(self) -> None:
        if not 1 <= self.channels_per_connection <= 30:
            raise ValueError(
                f"channels_per_connection must be 1..30 (Bitfinex's cap), got {self.channels_per_connection}"
            )
        if self.silence_timeout_s <= 0 or self.maintenance_timeout_s <= 0:
            raise ValueError("silence_timeout_s and maintenance_timeout_s must be positive")


@dataclass
class _Market:
    symbol: str  # unified, e.g. BTC/USD
    symbol_id: str  # Bitfinex's, e.g. tBTCUSD
    last_seen: int | None = None  # open time of the newest candle delivered
    # While a REST backfill runs, newer updates wait here so that they follow the backfilled minutes.
    held: list[tuple[Candle, UpdateSource]] | None = None
    backfill: asyncio.Task[None] | None = None
    # Caught up on the current subscription: everything its channel sends is delivered in order.
    # `epoch` counts interruptions, so a ping sent before one vouches for nothing after it.
    resumed: bool = False
    epoch: int = 0
    on_resumed: Callable[[], None] = lambda: None

    def interrupt(self) -> None:
        self.resumed = False
        self.epoch += 1

    def resume(self) -> None:
        self.resumed = True
        self.on_resumed()

    @property
    def key(self) -> str:
        return wire.candle_key(self.symbol_id)


@dataclass
class StreamStats:
    """Counters for monitoring (and tests)."""

    connections_opened: int = 0
    reconnects: int = 0
    rest_backfills: int = 0
    backfilled_candles: int = 0
    open_connections: int = 0
    reasons: list[str] = field(default_factory=list)  # why connections ended, newest last


class BitfinexCandleStream:
    """Streams 1-minute candle updates for `markets` (unified symbol -> Bitfinex id)."""

    def __init__(
        self,
        markets: Mapping[str, str],
        backfill: Backfill,
        settings: StreamSettings | None = None,
        *,
        ws_url: str = BITFINEX_WS,
        limiter: RateLimiter | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if not markets:
            raise ValueError("stream at least one market")
        self.settings = settings or StreamSettings()
        self.ws_url = ws_url
        self._markets = [_Market(symbol, symbol_id) for symbol, symbol_id in markets.items()]
        self._fetch = backfill
        self._now_ms = now_ms
        limiter = limiter or shared_rate_limiter()
        # Connections are limited per IP address, so the pace is shared by the whole process.
        self._pace = limiter.bucket(
            f"{EXCHANGE}:ws-connections",
            BucketSpec(self.settings.connections_per_minute, self.settings.connection_burst),
        )
        self._fan_in: UpdateFanIn[CandleUpdate | StreamAlive] = UpdateFanIn(self.settings.queue_size)
        self.stats = StreamStats()

    @property
    def connection_count(self) -> int:
        return len(self._groups())

    def _groups(self) -> list[list[_Market]]:
        size = self.settings.channels_per_connection
        return [self._markets[i : i + size] for i in range(0, len(self._markets), size)]

    async def updates(self) -> AsyncIterator[CandleUpdate | StreamAlive]:
        """Candle updates and liveness reports until the consumer stops iterating (or cancels)."""
        async with aiohttp.ClientSession() as session:
            connections = [
                (f"bitfinex-ws-{number}", _Connection(self, group, number).run(session))
                for number, group in enumerate(self._groups(), start=1)
            ]
            async for update in self._fan_in.updates(connections, also_cancel=self._running_backfills):
                yield update

    def _running_backfills(self) -> list[asyncio.Task[None]]:
        return [m.backfill for m in self._markets if m.backfill is not None]

    # ---------------------------------------------------------------- per-market handling

    async def on_snapshot(self, market: _Market, rows: list[Any]) -> None:
        candles = _parse_rows(market, rows)
        if market.backfill is not None:
            # Interrupted again while catching up: plan anew from the last minute delivered.
            market.backfill.cancel()
            market.backfill = None
            market.held = None
        plan = plan_resume(
            market.last_seen, candles, self._now_ms(), self.settings.close_grace_ms, trust_snapshot=True
        )
        if plan.fetch is None:
            for candle in plan.closed:
                await self._emit(market, candle, UpdateSource.BACKFILL)
            for candle in plan.current:
                await self._emit(market, candle, UpdateSource.SNAPSHOT)
            market.resume()
            return
        market.held = [(candle, UpdateSource.SNAPSHOT) for candle in plan.current]
        since, until = plan.fetch
        market.backfill = asyncio.create_task(self._backfill(market, since, until))

    async def on_update(self, market: _Market, row: list[Any]) -> None:
        try:
            candle = wire.candle_from_wire(row)
        except (ValueError, TypeError) as exc:
            log.warning("bitfinex %s: ignoring a malformed candle update: %s", market.symbol, exc)
            return
        if market.held is not None:
            market.held.append((candle, UpdateSource.LIVE))
            return
        await self._emit(market, candle, UpdateSource.LIVE)

    async def _backfill(self, market: _Market, since: int, until: int) -> None:
        self.stats.rest_backfills += 1
        candles: list[Candle] = []
        for attempt in range(1, self.settings.backfill_attempts + 1):
            try:
                candles = await self._fetch(market.symbol, since, until)
                break
            except Exception as exc:  # an ExchangeError, or a bug: either way the stream goes on
                if attempt == self.settings.backfill_attempts:
                    log.error(
                        "bitfinex %s: could not backfill minutes %d..%d after %d attempts: %s",
                        market.symbol,
                        since,
                        until,
                        attempt,
                        exc,
                    )
                else:
                    await asyncio.sleep(self.settings.backfill_retry_s * attempt)
        for candle in sorted(candles, key=lambda c: c.time):
            if since <= candle.time <= until:
                self.stats.backfilled_candles += 1
                await self._emit(market, candle, UpdateSource.BACKFILL)
        # Updates keep arriving while these are delivered; they join the end of the list.
        while market.held:
            candle, source = market.held.pop(0)
            await self._emit(market, candle, source)
        market.held = None
        market.backfill = None
        market.resume()

    async def report_alive(self, markets: list[_Market], until_ms: int) -> None:
        """Everything sent for `markets` before `until_ms` has been put in the stream."""
        await self._fan_in.put(StreamAlive(EXCHANGE, tuple(m.symbol for m in markets), until_ms))

    async def _emit(self, market: _Market, candle: Candle, source: UpdateSource) -> None:
        if market.last_seen is None or candle.time > market.last_seen:
            market.last_seen = candle.time
        await self._fan_in.put(
            CandleUpdate(EXCHANGE, market.symbol, candle, source=source, received_ms=self._now_ms())
        )


class _Connection:
    """One WebSocket connection carrying a fixed group of markets, reopened forever."""

    def __init__(self, stream: BitfinexCandleStream, markets: list[_Market], number: int) -> None:
        self._stream = stream
        self._settings = stream.settings
        self._markets = markets
        self._by_key = {m.key: m for m in markets}
        self._number = number
        self._channels: dict[int, _Market] = {}
        self._paused = False
        self._pinger = ConnectionPinger(markets, stream._now_ms, self._settings.ping_after_minute_ms)
        for market in markets:
            market.on_resumed = self._pinger.ping_soon

    async def run(self, session: aiohttp.ClientSession) -> None:
        settings = self._settings
        backoff = Backoff(settings.reconnect_initial_s, settings.reconnect_max_s)
        while True:
            await self._stream._pace.acquire()
            started = time.monotonic()
            try:
                reason = await self._session(session)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = f"connection failed: {exc!r}"
            if time.monotonic() - started >= settings.healthy_after_s:
                backoff.reset()
            delay = backoff.next_delay()
            self._stream.stats.reconnects += 1
            self._stream.stats.reasons.append(reason)
            log.warning(
                "bitfinex stream connection %d (%d markets): %s; reconnecting in %.1f s",
                self._number,
                len(self._markets),
                reason,
                delay,
            )
            await asyncio.sleep(delay)

    async def _session(self, session: aiohttp.ClientSession) -> str:
        settings = self._settings
        async with asyncio.timeout(settings.connect_timeout_s):
            ws = await session.ws_connect(
                self._stream.ws_url,
                autoping=True,
                heartbeat=None,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            )
        stats = self._stream.stats
        stats.connections_opened += 1
        stats.open_connections += 1
        self._channels = {}
        self._paused = False
        self._interrupt()
        pinger = asyncio.create_task(
            self._pinger.run(lambda message: _send(ws, message), lambda: self._paused),
            name=f"bitfinex-ws-{self._number}-ping",
        )
        try:
            for market in self._markets:
                await _send(ws, {"event": "subscribe", "channel": "candles", "key": market.key})
            return await self._read(ws)
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)
            self._interrupt()
            stats.open_connections -= 1
            await ws.close()

    def _interrupt(self) -> None:
        for market in self._markets:
            market.interrupt()
        self._pinger.forget()

    async def _on_pong(self, event: dict[str, Any]) -> None:
        vouched = self._pinger.on_pong(event.get("cid"))
        if vouched is not None and vouched[1] and not self._paused:
            await self._stream.report_alive(vouched[1], vouched[0])

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        settings = self._settings
        while True:
            timeout = settings.maintenance_timeout_s if self._paused else settings.silence_timeout_s
            try:
                msg = await ws.receive(timeout=timeout)
            except TimeoutError:
                if self._paused:
                    return f"maintenance did not end within {timeout:.0f} s"
                return f"silent for {timeout:.1f} s (no data, no heartbeat)"
            if msg.type == aiohttp.WSMsgType.TEXT:
                outcome = await self._on_text(ws, msg.data)
                if outcome is not None:
                    return outcome
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return f"closed by the server (code {ws.close_code})"
            elif msg.type == aiohttp.WSMsgType.ERROR:
                return f"connection error: {ws.exception()!r}"

    async def _on_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> str | None:
        try:
            data = msgspec.json.decode(text)
        except msgspec.DecodeError:
            log.warning("bitfinex stream connection %d: ignoring a message that is not JSON", self._number)
            return None
        if isinstance(data, dict):
            return await self._on_event(ws, data)
        if not isinstance(data, list) or len(data) < 2:
            return None
        market = self._channels.get(data[0])
        payload = data[1]
        if market is None or payload == wire.HEARTBEAT or not isinstance(payload, list):
            return None
        if wire.is_snapshot(payload):
            await self._stream.on_snapshot(market, payload)
        else:
            await self._stream.on_update(market, payload)
        return None

    async def _on_event(self, ws: aiohttp.ClientWebSocketResponse, event: dict[str, Any]) -> str | None:
        kind = event.get("event")
        if kind == "info":
            return await self._on_info(ws, event)
        if kind == "pong":
            await self._on_pong(event)
        if kind == "subscribed":
            market = self._by_key.get(str(event.get("key")))
            if market is not None and isinstance(event.get("chanId"), int):
                self._channels[event["chanId"]] = market
        elif kind == "unsubscribed":
            self._channels.pop(event.get("chanId"), None)  # type: ignore[arg-type]
        elif kind == "error":
            self._on_error(event)
        return None

    async def _on_info(self, ws: aiohttp.ClientWebSocketResponse, event: dict[str, Any]) -> str | None:
        code = event.get("code")
        if code == wire.INFO_RESTART:
            return "the server restarts (info 20051)"
        if code == wire.INFO_MAINTENANCE_START:
            log.warning("bitfinex stream connection %d: maintenance started (20060), pausing", self._number)
            self._paused = True
            self._interrupt()
        elif code == wire.INFO_MAINTENANCE_END:
            log.warning(
                "bitfinex stream connection %d: maintenance ended (20061), subscribing again", self._number
            )
            self._paused = False
            await self._resubscribe(ws)
        elif code is None:
            platform = event.get("platform")
            if isinstance(platform, dict) and platform.get("status") == 0:
                log.warning("bitfinex stream connection %d: platform in maintenance, waiting", self._number)
                self._paused = True
                self._interrupt()
        return None

    async def _resubscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # Bitfinex advises unsubscribing and subscribing again after maintenance; the new
        # snapshots drive the catch-up of what closed meanwhile.
        self._interrupt()
        for chan_id in list(self._channels):
            await _send(ws, {"event": "unsubscribe", "chanId": chan_id})
        for market in self._markets:
            await _send(ws, {"event": "subscribe", "channel": "candles", "key": market.key})

    def _on_error(self, event: dict[str, Any]) -> None:
        code = event.get("code")
        key = event.get("key")
        market = self._by_key.get(str(key))
        what = market.symbol if market is not None else (key or "a request")
        if code == wire.ERR_ALREADY_SUBSCRIBED:
            log.info("bitfinex stream connection %d: %s already subscribed", self._number, what)
            return
        meaning = wire.SUBSCRIBE_ERRORS.get(code, "error") if isinstance(code, int) else "error"
        log.error(
            "bitfinex refused the candle subscription for %s: %s (code %s: %s)",
            what,
            meaning,
            code,
            event.get("msg"),
        )


async def _send(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
    await ws.send_str(msgspec.json.encode(message).decode())


def _parse_rows(market: _Market, rows: list[Any]) -> list[Candle]:
    candles = []
    for row in rows:
        try:
            candles.append(wire.candle_from_wire(row))
        except (ValueError, TypeError) as exc:
            log.warning("bitfinex %s: ignoring a malformed snapshot candle: %s", market.symbol, exc)
    return candles
