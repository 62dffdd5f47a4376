"""ExchangeService: one exchange adapter on the bus.

It streams the adapter's 1-minute candle updates to the core (`tw.candles.update.{exchange}`,
plain NATS: the core finds any update lost in transit as a gap and asks for it again) and answers
the core's backfill requests (`tw.exchange.{exchange}.backfill`, in a queue group, so several
replicas of one adapter share them). A backfill's candles are published as BACKFILL updates on the
update subject *before* the answer, on the same connection, so the core has them when it hears the
answer.

An adapter that can prove its stream complete up to a time (`ReportsLiveness`: Bitfinex pings
every connection after each minute boundary) also yields `StreamAlive` reports; they go out on
`tw.candles.update.{exchange}.alive` in stream order, after the updates they vouch for, so the core
can tell an outage from a quiet market. Other adapters send none and the core falls back to its
grace time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import msgspec

from tradewinds.bus import codec, subjects
from tradewinds.bus.presence import Presence
from tradewinds.domain.messages import (
    BackfillRequest,
    BackfillResult,
    CandleUpdate,
    MarketListing,
    StreamAlive,
    UpdateSource,
)
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.times import format_time_ms
from tradewinds.exchange.adapter import ExchangeAdapter, ExchangeError, ExchangeUnavailable
from tradewinds.exchange.ratelimit import Backoff

log = logging.getLogger("tradewinds.exchange")


@dataclass(frozen=True)
class ExchangeServiceSettings:
    max_backfill_minutes: int = 7 * 24 * 60  # a larger request is refused (the core never asks that much)
    concurrent_backfills: int = 4  # the adapter's rate limiter paces them further
    restart_initial_s: float = 1.0  # a stream that failed is started again after this, doubling
    restart_max_s: float = 60.0
    status_seconds: float = 60.0


@runtime_checkable
class ReportsLiveness(Protocol):
    """An adapter whose stream also says up to when it is known complete."""

    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate | StreamAlive]:
        """`stream_candles`, with `StreamAlive` reports among the updates."""
        ...


@dataclass
class ExchangeCounters:
    updates: int = 0
    alive_reports: int = 0
    backfills_answered: int = 0
    backfill_candles: int = 0
    backfill_failures: int = 0
    stream_restarts: int = 0


class ExchangeService:
    """Runs `adapter` for `symbols` on the bus until stopped."""

    def __init__(
        self,
        bus: Any,
        adapter: ExchangeAdapter,
        symbols: Sequence[str],
        settings: ExchangeServiceSettings | None = None,
    ) -> None:
        self.bus = bus
        self.adapter = adapter
        self.symbols = list(symbols)
        self.settings = settings or ExchangeServiceSettings()
        self.counters = ExchangeCounters()
        self._updates_subject = subjects.candle_updates(adapter.name)
        self._alive_subject = subjects.stream_alive(adapter.name)
        self._backfill_slots = asyncio.Semaphore(self.settings.concurrent_backfills)
        self._backfills: set[asyncio.Task[None]] = set()
        self._listed: list[str] | None = None  # the venue's markets, once asked for

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set. An ExchangeError that retrying cannot cure (an unknown symbol,
        a refused key) ends the run by raising it."""
        subscription = await self.bus.subscribe(
            subjects.backfill_requests(self.adapter.name),
            queue=f"exchange-{self.adapter.name}",
            cb=self._on_backfill_request,
        )
        listing = await self.bus.subscribe(
            subjects.market_listing(self.adapter.name),
            queue=f"exchange-{self.adapter.name}",
            cb=self._on_listing_request,
        )
        await self.bus.flush()
        presence = Presence(self.bus, "exchange", self.presence_stats)
        await presence.start()
        from tradewinds.exchange.markets import MarketsFollower

        follower = MarketsFollower(self)  # streams the markets assignments want, as they come
        await follower.start()
        streaming = asyncio.create_task(self._stream(), name=f"{self.adapter.name}-stream")
        reporting = asyncio.create_task(self._report(), name=f"{self.adapter.name}-status")
        stopping = asyncio.create_task(stop.wait())
        log.info(
            "%s: starting the stream of %d markets to %s",
            self.adapter.name,
            len(self.symbols),
            self._updates_subject,
        )
        try:
            await asyncio.wait({streaming, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if streaming.done():
                streaming.result()  # re-raises what ended the stream
        finally:
            for task in (streaming, reporting, stopping, *self._backfills):
                task.cancel()
            await asyncio.gather(streaming, reporting, stopping, *self._backfills, return_exceptions=True)
            await follower.stop()
            await presence.stop()
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
                await listing.unsubscribe()
                await self.bus.flush()

    async def _on_listing_request(self, msg: Any) -> None:
        """Answer with every market the venue lists (asked of it once, then kept)."""
        if not msg.reply:
            return
        if self._listed is None:
            try:
                self._listed = sorted(m.symbol for m in await self.adapter.list_markets())
            except ExchangeError as exc:
                answer = MarketListing(self.adapter.name, [], list(self.symbols), error=str(exc))
                await msg.respond(codec.encode(answer))
                return
        answer = MarketListing(self.adapter.name, self._listed, sorted(self.symbols))
        await msg.respond(codec.encode(answer))

    def presence_stats(self) -> dict[str, int | str]:
        c = self.counters
        return {
            "exchange": self.adapter.name,
            "markets": len(self.symbols),
            "updates": c.updates,
            "backfills": c.backfills_answered,
            "errors": c.backfill_failures + c.stream_restarts,
        }

    async def _stream(self) -> None:
        if not self.symbols:  # started for the markets assignments want only (MarketsFollower)
            await asyncio.Event().wait()
        await self.stream(self.symbols)

    async def stream(self, symbols: Sequence[str]) -> None:
        """Publish `symbols`' updates until cancelled (MarketsFollower streams added markets so)."""
        symbols = list(symbols)
        backoff = Backoff(self.settings.restart_initial_s, self.settings.restart_max_s)
        while True:
            try:
                async for item in self._stream_items(symbols):
                    if isinstance(item, StreamAlive):
                        await self.bus.publish(self._alive_subject, codec.encode(item))
                        self.counters.alive_reports += 1
                        continue
                    await self.bus.publish(self._updates_subject, codec.encode(item))
                    self.counters.updates += 1
                    backoff.reset()
                raise ExchangeUnavailable(f"{self.adapter.name}: the candle stream ended")
            except ExchangeUnavailable as exc:  # adapters reconnect themselves; this is a last resort
                self.counters.stream_restarts += 1
                delay = backoff.next_delay()
                log.warning("%s: %s; starting the stream again in %.1f s", self.adapter.name, exc, delay)
                await asyncio.sleep(delay)

    def _stream_items(self, symbols: list[str]) -> AsyncIterator[CandleUpdate | StreamAlive]:
        if isinstance(self.adapter, ReportsLiveness):
            return self.adapter.stream_market_data(symbols)
        return self.adapter.stream_candles(symbols)

    # -- backfills -------------------------------------------------------------------------

    async def _on_backfill_request(self, msg: Any) -> None:
        task = asyncio.create_task(self._answer_backfill(msg))
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _answer_backfill(self, msg: Any) -> None:
        try:
            request = codec.decode(msg.data, BackfillRequest)
        except msgspec.DecodeError as exc:
            log.warning("%s: ignored a backfill request that does not decode: %s", self.adapter.name, exc)
            return
        async with self._backfill_slots:
            result = await self.backfill(request)
        if msg.reply:
            await msg.respond(codec.encode(result))

    async def backfill(self, request: BackfillRequest) -> BackfillResult:
        """Fetch the request's closed minutes, publish them as BACKFILL updates, say how many."""
        problem = self._refusal(request)
        if problem is None:
            try:
                count = await self._publish_history(request)
                self.counters.backfills_answered += 1
                self.counters.backfill_candles += count
                return _result(request, count=count)
            except ExchangeError as exc:
                problem = str(exc)
        self.counters.backfill_failures += 1
        log.warning("%s: backfill of %s failed: %s", self.adapter.name, _describe(request), problem)
        return _result(request, error=problem)

    def _refusal(self, request: BackfillRequest) -> str | None:
        if request.exchange != self.adapter.name:
            return f"this adapter serves {self.adapter.name}, not {request.exchange}"
        if request.until_ms < request.since_ms:
            return "the range ends before it starts"
        minutes = (request.until_ms - request.since_ms) // MINUTE_MS + 1
        if minutes > self.settings.max_backfill_minutes:
            return f"{minutes} minutes asked, at most {self.settings.max_backfill_minutes} per request"
        return None

    async def _publish_history(self, request: BackfillRequest) -> int:
        minutes = (request.until_ms - request.since_ms) // MINUTE_MS + 1
        candles = await self.adapter.fetch_candles(
            request.symbol, Timeframe.M1, request.since_ms, request.until_ms, limit=minutes
        )
        now = time.time_ns() // 1_000_000
        for candle in candles:
            update = CandleUpdate(request.exchange, request.symbol, candle, UpdateSource.BACKFILL, now)
            await self.bus.publish(self._updates_subject, codec.encode(update))
        await self.bus.flush()  # the candles leave before the answer does
        return len(candles)

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_seconds)
            c = self.counters
            log.info(
                "%s: %d updates and %d liveness reports published, %d backfills (%d candles, %d failed), "
                "%d stream restarts",
                self.adapter.name,
                c.updates,
                c.alive_reports,
                c.backfills_answered,
                c.backfill_candles,
                c.backfill_failures,
                c.stream_restarts,
            )


def _result(request: BackfillRequest, count: int = 0, error: str | None = None) -> BackfillResult:
    return BackfillResult(request.exchange, request.symbol, request.since_ms, request.until_ms, count, error)


def _describe(request: BackfillRequest) -> str:
    return f"{request.symbol} {format_time_ms(request.since_ms)}..{format_time_ms(request.until_ms)}"
