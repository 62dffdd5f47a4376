"""CoreService: the candle pipeline on the bus.

Candle updates from the adapters, clock ticks and backfill answers go through one queue into one
worker, so the pipeline sees them in a single order. Each batch of outputs is stored first (closed
candles and corrections, one upsert per series) and only then are the closed candles published:
whoever receives a close can read it from the database.

Liveness reports (`StreamAlive`) come on the same subscription as the updates, so the pipeline
takes them in the order the adapter published them. On start, what the store holds tells each
market how far back to fill (`CandlePipeline.resume_from`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import msgspec

from tradewinds.bus import codec, streams, subjects
from tradewinds.bus.presence import Presence
from tradewinds.core.pipeline import (
    CandleCorrection,
    CandlePipeline,
    InvalidUpdate,
    PipelineOutput,
    PipelineStats,
    StoredUntil,
)
from tradewinds.domain.candles import Candle, Market, SeriesKey
from tradewinds.domain.messages import (
    BackfillRequest,
    BackfillResult,
    CandleUpdate,
    ClosedCandle,
    StreamAlive,
)
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms

log = logging.getLogger("tradewinds.core")

UPDATES_SUBJECT = subjects.MARKET_FEEDS
_UPDATE_TOKENS = subjects.candle_updates("x").count(".") + 1


def _is_liveness(subject: str) -> bool:
    """`tw.candles.update.{exchange}.alive` (one token more than an update subject)."""
    return subject.count(".") == _UPDATE_TOKENS and subject.endswith(".alive")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class CandleWriter(Protocol):
    """Where closed candles go before they are published (`CandleStore` in production)."""

    async def upsert_many(self, batches: Mapping[SeriesKey, Sequence[Candle]]) -> None:
        """All of the batches in one transaction, or none of them."""
        ...


@runtime_checkable
class CandleHistory(Protocol):
    """A store that says what it holds (`CandleStore`): a restarted core fills back to there."""

    async def series(self) -> list[SeriesKey]: ...

    async def latest_time(self, key: SeriesKey) -> int | None: ...


@dataclass(frozen=True)
class CoreSettings:
    tick_seconds: float = 1.0  # how often the clock closes candles
    status_seconds: float = 60.0  # how often a status line is logged
    batch_limit: int = 2_000  # queued items handled per store-then-publish round
    store_retry_seconds: float = 2.0  # first wait after a failed write (doubles, up to 30 s)
    # A close that JetStream did not acknowledge is published again (the message id makes a
    # repeat harmless), this many times, waiting publish_retry_seconds, doubling, in between.
    publish_attempts: int = 6
    publish_retry_seconds: float = 0.5


@dataclass(frozen=True)
class _Tick:
    now_ms: int


@dataclass(frozen=True)
class _BackfillAnswered:
    request: BackfillRequest
    # The adapter publishes the backfilled candles before it answers, and they were delivered
    # before the answer; the pipeline hears of the answer once that many updates were processed.
    after_updates: int


class _Stop:
    pass


_STOP = _Stop()
_Item = Any  # a bus message, _Tick, _BackfillAnswered or _STOP


@dataclass
class _Counters:
    """Service-side totals the pipeline cannot see."""

    undecodable: int = 0
    invalid: int = 0
    stored: int = 0
    published: int = 0
    store_failures: int = 0
    publish_failures: int = 0


class CoreService:
    """Runs a CandlePipeline on the bus, storing before publishing. `start`, then `stop`."""

    def __init__(
        self,
        bus: Any,
        store: CandleWriter,
        pipeline: CandlePipeline | None = None,
        settings: CoreSettings | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.bus = bus
        self.store = store
        self.pipeline = pipeline or CandlePipeline()
        self.settings = settings or CoreSettings()
        self.counters = _Counters()
        self._clock = clock
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._answers: list[_BackfillAnswered] = []
        self._processed_updates = 0
        self._subscription: Any = None
        self._worker: asyncio.Task[None] | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._backfills: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._latest_close_ms: dict[str, int] = {}  # per exchange: end of its newest 1m close
        self.presence = Presence(bus, "core", self.presence_stats)

    async def start(self) -> None:
        await self._ensure_stream()
        await self._resume_from_store()
        self._subscription = await self._subscribe_updates()
        await self.presence.start()
        self._worker = asyncio.create_task(self._work(), name="core-worker")
        self._timers = [
            asyncio.create_task(self._tick(), name="core-clock"),
            asyncio.create_task(self._report(), name="core-status"),
        ]
        log.info("core: listening on %s", UPDATES_SUBJECT)

    async def stop(self) -> None:
        """Stop taking updates, finish what was queued (stored, then published), then return.

        Re-raises what made the worker fail, if it did."""
        self._stopping = True
        if self._subscription is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await self._subscription.drain()  # hands over what was delivered, then unsubscribes
        for task in [*self._timers, *self._backfills]:
            task.cancel()
        await asyncio.gather(*self._timers, *self._backfills, return_exceptions=True)
        if self._worker is not None:
            if not self._worker.done():
                self._queue.put_nowait(_STOP)
            await self._worker
        await self.presence.stop()
        log.info("core: stopped; %s", self.status_line(self.pipeline.stats, PipelineStats(), 0.0))

    async def run(self, stop: asyncio.Event) -> None:
        """Start, run until `stop` is set (or the worker fails), then stop."""
        await self.start()
        assert self._worker is not None
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({waiter, self._worker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            await self.stop()

    # -- the worker -------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.settings.batch_limit and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            out = PipelineOutput()
            for item in batch:
                if item is not _STOP:
                    self._take(item, out)
            unstored = await self._store(out)
            await self._publish([c for c in out.closed if _series_of(c) not in unstored])
            for request in out.backfills:
                self._ask_backfill(request)
            for request in out.expired_backfills:
                log.warning("core: no backfill for %s in time; rollups closed without it", _describe(request))
            for notice in out.notices:
                log.warning("core: %s", notice)
            if any(item is _STOP for item in batch):
                return

    def _take(self, item: _Item, out: PipelineOutput) -> None:
        if isinstance(item, _Tick):
            out.extend(self.pipeline.on_clock(item.now_ms))
        elif isinstance(item, _BackfillAnswered):
            self._answers.append(item)
        else:
            self._processed_updates += 1
            if _is_liveness(item.subject):
                self._take_alive(item.data, out)
            else:
                self._take_update(item.data, out)
        if self._answers:
            self._release_answers(out)

    def _take_update(self, data: bytes, out: PipelineOutput) -> None:
        try:
            update = self._decode(data, CandleUpdate)
        except msgspec.DecodeError as exc:
            self.counters.undecodable += 1
            log.warning("core: ignored a message on %s that is not a CandleUpdate: %s", UPDATES_SUBJECT, exc)
            return
        try:
            out.extend(self.pipeline.on_update(update, self._clock()))
        except InvalidUpdate as exc:
            self.counters.invalid += 1
            log.warning("core: ignored update: %s", exc)

    def _take_alive(self, data: bytes, out: PipelineOutput) -> None:
        try:
            alive = self._decode(data, StreamAlive)
        except msgspec.DecodeError as exc:
            self.counters.undecodable += 1
            log.warning("core: ignored a liveness report that is not a StreamAlive: %s", exc)
            return
        out.extend(self.pipeline.on_alive(alive, self._clock()))

    async def _resume_from_store(self) -> None:
        """Tell the pipeline what was stored for each market before this start."""
        store = self.store
        if not isinstance(store, CandleHistory):
            return
        newest: dict[Market, dict[Timeframe, int]] = defaultdict(dict)
        for key in await store.series():
            latest = await store.latest_time(key)
            if latest is not None:
                newest[Market(key.exchange, key.symbol)][key.timeframe] = latest
        for market, times in newest.items():
            minute = times.pop(Timeframe.M1, None)
            if minute is not None:
                self.pipeline.resume_from(market, StoredUntil(minute, times))
        if newest:
            log.info("core: %d markets were stored before; each fills back to its last minute", len(newest))

    def _release_answers(self, out: PipelineOutput) -> None:
        ready = [a for a in self._answers if a.after_updates <= self._processed_updates]
        for answer in ready:
            self._answers.remove(answer)
            request = answer.request
            market = Market(request.exchange, request.symbol)
            out.extend(self.pipeline.on_backfill_done(market, request.since_ms, request.until_ms))

    async def _store(self, out: PipelineOutput) -> set[SeriesKey]:
        """Write closes and corrections in one transaction; return the series that could not be
        written (all of them, only when stopping: until then a failed write is retried)."""
        by_series: dict[SeriesKey, list[Candle]] = defaultdict(list)
        items: list[ClosedCandle | CandleCorrection] = [*out.closed, *out.corrections]
        for item in items:
            by_series[_series_of(item)].append(item.candle)
        if not by_series or await self._store_batch(by_series, len(items)):
            return set()
        return set(by_series)

    async def _store_batch(self, by_series: dict[SeriesKey, list[Candle]], count: int) -> bool:
        wait = self.settings.store_retry_seconds
        while True:
            try:
                await self.store.upsert_many(by_series)
                self.counters.stored += count
                return True
            except Exception as exc:  # the database may be down for a while: keep the candles
                self.counters.store_failures += 1
                if self._stopping:
                    log.error("core: could not store %d candles while stopping: %s", count, exc)
                    return False
                log.error("core: storing %d candles failed (%s); retrying in %.0f s", count, exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 30.0)

    async def _publish(self, closed: list[ClosedCandle]) -> None:
        for candle in closed:
            if await self._publish_with_retries(candle):
                self.counters.published += 1
                if candle.timeframe == Timeframe.M1.value:
                    end = candle.candle.time + Timeframe.M1.ms
                    latest = self._latest_close_ms.get(candle.exchange, 0)
                    self._latest_close_ms[candle.exchange] = max(end, latest)

    async def _publish_with_retries(self, candle: ClosedCandle) -> bool:
        wait = self.settings.publish_retry_seconds
        for attempt in range(1, self.settings.publish_attempts + 1):
            try:
                await self._publish_closed(candle)
                return True
            except Exception as exc:  # NATS down or JetStream without an answer: try again
                self.counters.publish_failures += 1
                last = attempt == self.settings.publish_attempts or self._stopping
                log.error(
                    "core: publishing %s failed (%s)%s",
                    _describe_closed(candle),
                    exc or type(exc).__name__,
                    "; it is stored, readers find it in the database" if last else f"; again in {wait:.1f} s",
                )
                if last:
                    return False
                await asyncio.sleep(wait)
                wait *= 2
        return False

    # -- backfills, clock, status -----------------------------------------------------------

    def _ask_backfill(self, request: BackfillRequest) -> None:
        if self._stopping:
            return
        task = asyncio.create_task(self._backfill(request), name=f"core-backfill-{request.exchange}")
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _backfill(self, request: BackfillRequest) -> None:
        timeout = self.pipeline.config.backfill_timeout_ms / 1000
        log.info("core: asking for backfill of %s", _describe(request))
        try:
            data = await self._request_backfill(request, timeout)
            result = self._decode(data, BackfillResult)
            if result.error:
                log.warning(
                    "core: backfill of %s failed at the adapter: %s", _describe(request), result.error
                )
            else:
                log.info("core: backfill of %s brought %d candles", _describe(request), result.count)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # timeout, no adapter listening, garbled answer
            log.warning(
                "core: backfill of %s got no answer: %s", _describe(request), exc or type(exc).__name__
            )
        self._queue.put_nowait(_BackfillAnswered(request, self._delivered_updates()))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_seconds)
            self._queue.put_nowait(_Tick(self._clock()))

    async def _report(self) -> None:
        previous, since = replace(self.pipeline.stats), time.monotonic()
        while True:
            await asyncio.sleep(self.settings.status_seconds)
            now = time.monotonic()
            current = replace(self.pipeline.stats)
            log.info("core: %s", self.status_line(current, previous, now - since))
            previous, since = current, now

    def presence_stats(self) -> dict[str, int]:
        """What `tradewinds status` shows of the core; `lag_ms.{exchange}`: how far its newest
        closed minute ends behind the wall clock (sim replays run on their own clock)."""
        now, stats = self._clock(), self.pipeline.stats
        lags = {f"lag_ms.{exchange}": now - end for exchange, end in self._latest_close_ms.items()}
        return {
            "markets": len(self.pipeline.markets),
            "updates": stats.updates,
            "minute_closes": stats.minute_closes,
            "rollup_closes": stats.rollup_closes,
            "published": self.counters.published,
            "queue": self._queue.qsize(),
            "errors": self.counters.store_failures + self.counters.publish_failures + self.counters.invalid,
            **lags,
        }

    def status_line(self, current: PipelineStats, previous: PipelineStats, seconds: float) -> str:
        """One line: markets, updates per second, closes, corrections, backfills, queue."""
        updates = current.updates - previous.updates
        rate = f"{updates / seconds:.1f} updates/s" if seconds > 0 else f"{current.updates} updates"
        repeats = current.duplicates + current.stale - previous.duplicates - previous.stale
        parts = [
            f"{len(self.pipeline.markets)} markets",
            f"{rate} ({repeats} repeated)",
            f"closed {current.minute_closes - previous.minute_closes} 1m"
            f" + {current.rollup_closes - previous.rollup_closes} rollups",
            f"{current.corrections - previous.corrections} corrections",
            f"backfills {current.backfills_requested - previous.backfills_requested} asked"
            f" / {current.backfills_expired - previous.backfills_expired} expired",
            f"queue {self._queue.qsize()}",
        ]
        if self.counters.undecodable or self.counters.invalid:
            parts.append(f"ignored {self.counters.undecodable + self.counters.invalid} bad updates")
        return ", ".join(parts)

    # -- the bus ----------------------------------------------------------------------------

    async def _ensure_stream(self) -> None:
        await streams.ensure_stream(self.bus.jetstream(), streams.CANDLES)

    async def _subscribe_updates(self) -> Any:
        async def enqueue(msg: Any) -> None:
            self._queue.put_nowait(msg)

        subscription = await self.bus.subscribe(UPDATES_SUBJECT, cb=enqueue)
        # The server should hold the subscription before start() returns. nats-py writes a flush's
        # PING straight to the socket, possibly ahead of the queued SUB; by the first PONG the
        # SUB has been written, so the second PONG proves the server has it.
        await self.bus.flush()
        await self.bus.flush()
        return subscription

    def _delivered_updates(self) -> int:
        return int(self._subscription.delivered) if self._subscription is not None else 0

    async def _request_backfill(self, request: BackfillRequest, wait_seconds: float) -> bytes:
        subject = subjects.backfill_requests(request.exchange)
        reply = await self.bus.request(subject, codec.encode(request), timeout=wait_seconds)
        return bytes(reply.data)

    async def _publish_closed(self, candle: ClosedCandle) -> None:
        subject = subjects.closed_candles(candle.exchange, candle.symbol, candle.timeframe)
        headers = {"Nats-Msg-Id": streams.closed_candle_id(candle)}
        await self.bus.jetstream().publish(subject, codec.encode(candle), headers=headers)

    @staticmethod
    def _decode(data: bytes, kind: type[Any]) -> Any:
        return codec.decode(data, kind)


def _series_of(item: ClosedCandle | CandleCorrection) -> SeriesKey:
    return SeriesKey(item.exchange, item.symbol, Timeframe.parse(item.timeframe))


def _describe(request: BackfillRequest) -> str:
    return (
        f"{request.exchange}:{request.symbol} "
        f"{format_time_ms(request.since_ms)}..{format_time_ms(request.until_ms)}"
    )


def _describe_closed(candle: ClosedCandle) -> str:
    return f"{candle.exchange}:{candle.symbol} {candle.timeframe} {format_time_ms(candle.candle.time)}"
