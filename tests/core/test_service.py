"""CoreService against a real nats-server and a SQLite database, with an adapter played by the test."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats
import pytest

from tests.core.harness import T0, assert_same_series, candle, reference
from tradewinds.core.pipeline import CandlePipeline, PipelineConfig
from tradewinds.core.service import CoreService, CoreSettings
from tradewinds.domain.candles import Candle, Market, SeriesKey
from tradewinds.domain.messages import (
    BackfillRequest,
    BackfillResult,
    CandleUpdate,
    ClosedCandle,
    CloseReason,
    StreamAlive,
    UpdateSource,
)
from tradewinds.domain.timeframes import ROLLUP_TIMEFRAMES, Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine

M = 60_000
UPDATES = "tw.candles.update.bitfinex"
BTC = SeriesKey("bitfinex", "BTC/USD", Timeframe.M1)


@dataclass
class FakeClock:
    now_ms: int = T0 + 1_000

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class Adapter:
    """Plays the Bitfinex adapter: publishes updates and answers backfill requests from `history`."""

    nc: nats.NATS
    history: dict[int, Candle]
    requests: list[BackfillRequest] = field(default_factory=list)

    async def start(self) -> None:
        await self.nc.subscribe("tw.exchange.bitfinex.backfill", cb=self._answer)

    async def send(self, c: Candle, source: UpdateSource = UpdateSource.LIVE) -> None:
        update = CandleUpdate("bitfinex", "BTC/USD", c, source)
        await self.nc.publish(UPDATES, msgspec.msgpack.encode(update))

    async def _answer(self, msg: nats.aio.msg.Msg) -> None:
        request = msgspec.msgpack.decode(msg.data, type=BackfillRequest)
        self.requests.append(request)
        found = [c for t, c in sorted(self.history.items()) if request.since_ms <= t <= request.until_ms]
        for c in found:  # published first, then the answer, as the adapter contract says
            await self.send(c, UpdateSource.BACKFILL)
        result = BackfillResult(
            request.exchange, request.symbol, request.since_ms, request.until_ms, len(found)
        )
        await msg.respond(msgspec.msgpack.encode(result))


@dataclass
class Watcher:
    """Collects closed candles from the bus, checking each is already stored when it arrives."""

    store: CandleStore
    closed: list[ClosedCandle] = field(default_factory=list)
    unstored: list[ClosedCandle] = field(default_factory=list)

    async def on_msg(self, msg: nats.aio.msg.Msg) -> None:
        closed = msgspec.msgpack.decode(msg.data, type=ClosedCandle)
        key = SeriesKey(closed.exchange, closed.symbol, Timeframe.parse(closed.timeframe))
        stored = await self.store.range(key, closed.candle.time, closed.candle.time)
        if stored != [closed.candle]:
            self.unstored.append(closed)
        self.closed.append(closed)

    def times(self, timeframe: Timeframe) -> list[int]:
        return [c.candle.time for c in self.closed if c.timeframe == timeframe.label]


@pytest.fixture
async def store(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[CandleStore]:
    path = tmp_path / "core.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_engine(f"sqlite:///{path}")
    try:
        yield CandleStore(engine)
    finally:
        await engine.dispose()


async def eventually(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def running_core(
    url: str, store: CandleStore, clock: FakeClock, body: Callable[[CoreService], Awaitable[None]]
) -> CoreService:
    core_nc = await nats.connect(url)
    pipeline = CandlePipeline(PipelineConfig(grace_ms=5_000, backfill_timeout_ms=30_000))
    service = CoreService(core_nc, store, pipeline, CoreSettings(tick_seconds=0.02), clock=clock)
    await service.start()
    try:
        await body(service)
    finally:
        await service.stop()
        await core_nc.close()
    return service


async def test_updates_become_stored_and_published_closes_once(nats_url: str, store: CandleStore) -> None:
    minutes = {i: candle(T0 + i * M, price=100 + i, volume=2 + i) for i in (0, 1, 2, 3, 5, 6, 7)}
    adapter = Adapter(await nats.connect(nats_url), history={c.time: c for c in minutes.values()})
    await adapter.start()
    watcher_nc = await nats.connect(nats_url)
    watcher = Watcher(store)
    await watcher_nc.subscribe("tw.candles.closed.>", cb=watcher.on_msg)
    clock = FakeClock()

    async def scenario(service: CoreService) -> None:
        for i in (0, 1, 2):
            clock.now_ms = T0 + i * M + 1_000  # the clock closes nothing before the next minute
            partial = candle(T0 + i * M, price=100 + i, volume=1)
            for c in (partial, partial, minutes[i], minutes[i]):  # versions and duplicates
                await adapter.send(c)
        # Minutes 3 and 4 never arrive live (minute 4 had no trades): a gap.
        for i in (5, 6, 7):
            clock.now_ms = T0 + i * M + 1_000
            await adapter.send(minutes[i])
            await adapter.send(minutes[i], UpdateSource.SNAPSHOT)
        await eventually(lambda: len(adapter.requests) == 1, "the backfill request")
        await eventually(lambda: 3 * M + T0 in watcher.times(Timeframe.M1), "the backfilled minute")
        await eventually(lambda: watcher.times(Timeframe.M5) == [T0], "the first 5m candle")
        clock.now_ms = T0 + 10 * M + 5_000  # minute 7 and the second 5m bucket time out
        await eventually(lambda: len(watcher.times(Timeframe.M5)) == 2, "the second 5m candle")

    service = await running_core(nats_url, store, clock, scenario)

    assert adapter.requests == [BackfillRequest("bitfinex", "BTC/USD", T0 + 3 * M, T0 + 4 * M)]
    assert sorted(watcher.times(Timeframe.M1)) == sorted(c.time for c in minutes.values())
    reasons = {c.candle.time: c.reason for c in watcher.closed if c.timeframe == "1m"}
    assert reasons[T0 + 3 * M] is CloseReason.BACKFILL and reasons[T0 + 7 * M] is CloseReason.TIMEOUT
    assert reasons[T0] is CloseReason.NEXT_CANDLE
    assert watcher.unstored == []
    assert len(watcher.closed) == len({(c.timeframe, c.candle.time) for c in watcher.closed})  # once each
    assert await store.range(BTC) == sorted(minutes.values(), key=lambda c: c.time)
    five = await store.range(SeriesKey("bitfinex", "BTC/USD", Timeframe.M5))
    assert [(c.time, c.volume) for c in five] == [(T0, 2 + 3 + 4 + 5), (T0 + 5 * M, 7 + 8 + 9)]
    assert service.pipeline.stats.duplicates >= 6
    await adapter.nc.close()
    await watcher_nc.close()


async def test_garbage_and_bad_updates_are_ignored_and_counted(nats_url: str, store: CandleStore) -> None:
    publisher = await nats.connect(nats_url)
    clock = FakeClock()

    async def scenario(service: CoreService) -> None:
        await publisher.publish(UPDATES, b"not msgpack at all")
        off_minute = CandleUpdate("bitfinex", "BTC/USD", candle(T0 + 1_500))
        await publisher.publish(UPDATES, msgspec.msgpack.encode(off_minute))
        good = CandleUpdate("bitfinex", "BTC/USD", candle(T0))
        await publisher.publish(UPDATES, msgspec.msgpack.encode(good))
        await eventually(lambda: service.pipeline.stats.updates == 1, "the good update")

    service = await running_core(nats_url, store, clock, scenario)
    assert (service.counters.undecodable, service.counters.invalid) == (1, 1)
    await publisher.close()


async def test_stop_stores_and_publishes_what_was_queued(nats_url: str, store: CandleStore) -> None:
    publisher = await nats.connect(nats_url)
    clock = FakeClock(T0 + 19 * M + 30_000)  # minute 19 is still forming

    async def scenario(service: CoreService) -> None:
        for i in range(20):
            update = CandleUpdate(
                "bitfinex", "BTC/USD", candle(T0 + i * M, price=100 + i), UpdateSource.SNAPSHOT
            )
            await publisher.publish(UPDATES, msgspec.msgpack.encode(update))
        await publisher.flush()
        await eventually(lambda: service.pipeline.stats.updates == 20, "the snapshot")

    await running_core(nats_url, store, clock, scenario)
    assert [c.time for c in await store.range(BTC)] == [T0 + i * M for i in range(19)]  # 19 is forming
    js = publisher.jetstream()
    info = await js.stream_info("CANDLES")
    assert info.state.messages == 19 + 3 + 1  # 1m closes, 5m 00:00-00:15, 15m 00:00
    await publisher.close()


class FlakyStore:
    """A store whose first writes fail, as when the database is briefly unreachable."""

    def __init__(self, store: CandleStore, failures: int) -> None:
        self.store = store
        self.failures = failures

    async def upsert_many(self, batches: Mapping[SeriesKey, Sequence[Candle]]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database unreachable")
        await self.store.upsert_many(batches)


async def test_failed_writes_are_retried_and_nothing_is_published_before_it_is_stored(
    nats_url: str, store: CandleStore
) -> None:
    publisher = await nats.connect(nats_url)
    watcher = Watcher(store)
    await publisher.subscribe("tw.candles.closed.>", cb=watcher.on_msg)
    clock = FakeClock(T0 + M + 1_000)
    flaky = FlakyStore(store, failures=2)
    core_nc = await nats.connect(nats_url)
    service = CoreService(core_nc, flaky, settings=CoreSettings(store_retry_seconds=0.05), clock=clock)
    await service.start()
    try:
        for i in (0, 1):
            update = CandleUpdate("bitfinex", "BTC/USD", candle(T0 + i * M))
            await publisher.publish(UPDATES, msgspec.msgpack.encode(update))
        await eventually(lambda: len(watcher.closed) == 1, "minute 0 closed")
    finally:
        await service.stop()
        await core_nc.close()
    assert service.counters.store_failures == 2
    assert watcher.unstored == [] and watcher.times(Timeframe.M1) == [T0]
    await publisher.close()


async def test_a_close_jetstream_did_not_take_is_published_again_and_kept_once(
    nats_url: str, store: CandleStore
) -> None:
    publisher = await nats.connect(nats_url)
    core_nc = await nats.connect(nats_url)
    clock = FakeClock(T0 + M + 1_000)
    settings = CoreSettings(publish_retry_seconds=0.01)
    service = CoreService(
        core_nc, store, CandlePipeline(PipelineConfig(startup_backfill=False)), settings, clock
    )
    real_publish = service._publish_closed
    attempts: list[ClosedCandle] = []

    async def unacknowledged_twice(closed: ClosedCandle) -> None:
        attempts.append(closed)
        await real_publish(closed)  # reaches the stream...
        if len(attempts) <= 2:
            raise TimeoutError("no acknowledgement")  # ...but the answer is lost

    service._publish_closed = unacknowledged_twice  # type: ignore[method-assign]
    await service.start()
    try:
        for i in (0, 1):
            update = CandleUpdate("bitfinex", "BTC/USD", candle(T0 + i * M))
            await publisher.publish(UPDATES, msgspec.msgpack.encode(update))
        await eventually(lambda: service.counters.published == 1, "minute 0 published")
    finally:
        await service.stop()
        await core_nc.close()
    assert len(attempts) == 3 and service.counters.publish_failures == 2
    info = await publisher.jetstream().stream_info("CANDLES")
    assert info.state.messages == 1  # three publishes, one stored close: the message id
    await publisher.close()


async def test_a_restart_across_midnight_completes_and_publishes_the_previous_days_rollups(
    nats_url: str, store: CandleStore
) -> None:
    """Stopped at 23:50 with minutes to 23:49 stored (and the rollups closed by then), started at
    00:30: the core fills back to its last stored minute, so 23:50-23:59 and the previous day's
    1h, 4h and 1d candles are stored and published."""
    yesterday, today = T0, T0 + Timeframe.D1.ms
    history = {
        t: candle(t, price=100 + (t // M) % 17, volume=1 + (t // M) % 5)
        for t in range(yesterday, today + 30 * M, M)
    }
    stopped = today - 10 * M  # 23:50
    before = [c for t, c in history.items() if t < stopped]
    await store.upsert(BTC, before)
    for tf in ROLLUP_TIMEFRAMES:  # what the core had closed before it stopped
        done = [c for c in reference(before, tf).values() if c.time + tf.ms <= stopped]
        await store.upsert(SeriesKey("bitfinex", "BTC/USD", tf), done)
    adapter = Adapter(await nats.connect(nats_url), history=history)
    await adapter.start()
    watcher_nc = await nats.connect(nats_url)
    watcher = Watcher(store)
    await watcher_nc.subscribe("tw.candles.closed.>", cb=watcher.on_msg)
    clock = FakeClock(today + 30 * M + 1_000)

    async def scenario(service: CoreService) -> None:
        await adapter.send(candle(today + 30 * M))
        await eventually(lambda: yesterday in watcher.times(Timeframe.D1), "the previous day's candle", 20)

    await running_core(nats_url, store, clock, scenario)
    assert [(r.since_ms, r.until_ms) for r in adapter.requests] == [(yesterday, today + 29 * M)]
    assert watcher.unstored == []
    assert set(range(stopped, today + 30 * M, M)) <= set(watcher.times(Timeframe.M1))
    everything = list(history.values())
    for tf in ROLLUP_TIMEFRAMES:
        over = {t: c for t, c in reference(everything, tf).items() if t + tf.ms <= today + 30 * M}
        stored_series = {c.time: c for c in await store.range(SeriesKey("bitfinex", "BTC/USD", tf))}
        assert_same_series(stored_series, over, tf.label)
        spanned = [t for t in over if t + tf.ms > stopped]  # the buckets the restart spans
        assert set(spanned) <= set(watcher.times(tf)), tf.label
    # What was stored before is published again only where the bus drops a repeat (its duplicate
    # window: the day before the start), never older.
    window = clock.now_ms - Timeframe.D1.ms
    assert min(watcher.times(Timeframe.M1)) >= window
    assert watcher.times(Timeframe.H4) == [yesterday + h * 60 * M for h in (4, 8, 12, 16, 20)]
    assert watcher.times(Timeframe.D1) == [yesterday]
    assert len(watcher.closed) == len({(c.timeframe, c.candle.time) for c in watcher.closed})
    await adapter.nc.close()
    await watcher_nc.close()


async def test_liveness_reports_on_the_bus_close_minutes_and_hold_a_silent_market(
    nats_url: str, store: CandleStore
) -> None:
    publisher = await nats.connect(nats_url)
    watcher_nc = await nats.connect(nats_url)
    watcher = Watcher(store)
    await watcher_nc.subscribe("tw.candles.closed.>", cb=watcher.on_msg)
    clock = FakeClock(T0 + 1_000)
    alive_subject = "tw.candles.update.bitfinex.alive"

    async def scenario(service: CoreService) -> None:
        for symbol in ("BTC/USD", "ETH/USD"):
            for minute in (T0 - M, T0):  # the minute before is there: no startup gap to wait for
                update = CandleUpdate("bitfinex", symbol, candle(minute), UpdateSource.SNAPSHOT)
                await publisher.publish(UPDATES, msgspec.msgpack.encode(update))
        report = StreamAlive("bitfinex", ("BTC/USD", "ETH/USD"), T0 + 2_000)
        await publisher.publish(alive_subject, msgspec.msgpack.encode(report))
        await eventually(lambda: service.pipeline.stats.updates == 4, "the updates")
        # Two seconds after the minute: BTC's connection answered its ping, ETH's did not.
        clock.now_ms = T0 + M + 2_000
        report = StreamAlive("bitfinex", ("BTC/USD",), T0 + M + 2_000)
        await publisher.publish(alive_subject, msgspec.msgpack.encode(report))
        await eventually(
            lambda: (
                [(c.symbol, c.candle.time) for c in watcher.closed if c.timeframe == "1m"][-1:]
                == [("BTC/USD", T0)]
            ),
            "BTC's minute closed by the report, before the grace time",
        )
        clock.now_ms = T0 + 10 * M  # far past the grace time: ETH still waits for its stream
        await asyncio.sleep(0.2)

    service = await running_core(nats_url, store, clock, scenario)
    closes = [(c.symbol, c.candle.time, c.reason) for c in watcher.closed if c.timeframe == "1m"]
    assert ("BTC/USD", T0, CloseReason.TIMEOUT) in closes
    assert ("ETH/USD", T0) not in [(s, t) for s, t, _ in closes]
    assert service.pipeline.forming(Market("bitfinex", "ETH/USD")) == candle(T0)
    assert service.counters.undecodable == 0
    await publisher.close()
    await watcher_nc.close()
