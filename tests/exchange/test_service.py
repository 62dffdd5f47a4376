"""ExchangeService on a real nats-server, with an adapter played by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import nats
import pytest

from tradewinds.bus import codec, subjects
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import (
    BackfillRequest,
    BackfillResult,
    CandleUpdate,
    StreamAlive,
    UpdateSource,
)
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import ExchangeError, ExchangeUnavailable
from tradewinds.exchange.service import ExchangeService, ExchangeServiceSettings

T0 = 1_700_006_400_000


def minute(i: int, price: float = 100.0) -> Candle:
    return Candle(T0 + i * MINUTE_MS, price, price + 1, price - 1, price + 0.5, 1.0 + i)


@dataclass
class ScriptedAdapter:
    """Streams `live` (then `failures` raise in turn, each ending one stream), serves `history`."""

    name: str = "fake"
    live: list[Candle] = field(default_factory=list)
    history: dict[int, Candle] = field(default_factory=dict)
    failures: list[Exception] = field(default_factory=list)
    fetch_error: Exception | None = None
    streams_started: int = 0

    def stream_candles(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate]:
        return self._stream(list(symbols))

    async def _stream(self, symbols: list[str]) -> AsyncIterator[CandleUpdate]:
        self.streams_started += 1
        if self.failures:
            raise self.failures.pop(0)
        for candle in self.live:
            for symbol in symbols:
                yield CandleUpdate(self.name, symbol, candle)
        await asyncio.Event().wait()

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since_ms: int, until_ms: int | None = None, limit: int = 1000
    ) -> list[Candle]:
        if self.fetch_error is not None:
            raise self.fetch_error
        assert timeframe is Timeframe.M1
        end = until_ms if until_ms is not None else max(self.history)
        return [self.history[t] for t in sorted(self.history) if since_ms <= t <= end][:limit]


async def collect(nc: nats.NATS, subject: str) -> tuple[list[CandleUpdate], object]:
    got: list[CandleUpdate] = []

    async def take(msg: nats.aio.msg.Msg) -> None:
        got.append(codec.decode(msg.data, CandleUpdate))

    sub = await nc.subscribe(subject, cb=take)
    await nc.flush()
    return got, sub


async def eventually(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[nats.NATS]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


async def running(service: ExchangeService) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await asyncio.sleep(0.1)  # subscribed
    return stop, task


async def test_stream_updates_reach_the_core_subject_in_order(bus: nats.NATS, nats_url: str) -> None:
    adapter = ScriptedAdapter(live=[minute(0), minute(0, 101), minute(1)])
    got, _ = await collect(bus, subjects.candle_updates("fake"))
    service_bus = await nats.connect(nats_url)
    stop, task = await running(ExchangeService(service_bus, adapter, ["BTC/USD", "ETH/USD"]))
    await eventually(lambda: len(got) == 6)
    assert [(u.symbol, u.candle) for u in got] == [
        (s, c) for c in adapter.live for s in ("BTC/USD", "ETH/USD")
    ]
    stop.set()
    await task
    await service_bus.close()


async def test_backfill_candles_arrive_before_the_answer(bus: nats.NATS, nats_url: str) -> None:
    history = {c.time: c for c in (minute(i) for i in range(10)) if c.time != minute(4).time}
    adapter = ScriptedAdapter(history=history)
    order: list[str] = []

    async def note(msg: nats.aio.msg.Msg) -> None:
        update = codec.decode(msg.data, CandleUpdate)
        assert update.source is UpdateSource.BACKFILL
        order.append(f"candle {update.candle.time}")

    await bus.subscribe(subjects.candle_updates("fake"), cb=note)
    service_bus = await nats.connect(nats_url)
    stop, task = await running(ExchangeService(service_bus, adapter, []))
    request = BackfillRequest("fake", "BTC/USD", minute(2).time, minute(6).time)
    reply = await bus.request(subjects.backfill_requests("fake"), codec.encode(request), timeout=5)
    result = codec.decode(reply.data, BackfillResult)
    order.append("answer")
    assert result == BackfillResult("fake", "BTC/USD", request.since_ms, request.until_ms, count=4)
    assert order == [f"candle {minute(i).time}" for i in (2, 3, 5, 6)] + ["answer"]
    stop.set()
    await task
    await service_bus.close()


@pytest.mark.parametrize(
    ("request_", "fetch_error", "expected"),
    [
        (BackfillRequest("other", "BTC/USD", T0, T0), None, "serves fake, not other"),
        (BackfillRequest("fake", "BTC/USD", T0 + MINUTE_MS, T0), None, "ends before it starts"),
        (BackfillRequest("fake", "BTC/USD", T0, T0 + 10_000 * MINUTE_MS), None, "at most 100 per request"),
        (BackfillRequest("fake", "NOPE/USD", T0, T0), ExchangeError("unknown symbol NOPE/USD"), "NOPE/USD"),
    ],
)
async def test_bad_backfills_are_answered_with_the_reason(
    bus: nats.NATS,
    nats_url: str,
    request_: BackfillRequest,
    fetch_error: Exception | None,
    expected: str,
) -> None:
    adapter = ScriptedAdapter(history={T0: minute(0)}, fetch_error=fetch_error)
    service_bus = await nats.connect(nats_url)
    service = ExchangeService(service_bus, adapter, [], ExchangeServiceSettings(max_backfill_minutes=100))
    stop, task = await running(service)
    reply = await bus.request(subjects.backfill_requests("fake"), codec.encode(request_), timeout=5)
    result = codec.decode(reply.data, BackfillResult)
    assert result.count == 0 and result.error is not None and expected in result.error
    assert service.counters.backfill_failures == 1
    stop.set()
    await task
    await service_bus.close()


async def test_an_unavailable_exchange_is_retried_and_a_broken_setup_ends_the_run(nats_url: str) -> None:
    service_bus = await nats.connect(nats_url)
    adapter = ScriptedAdapter(failures=[ExchangeUnavailable("maintenance"), ExchangeError("bad symbol X")])
    service = ExchangeService(
        service_bus, adapter, ["X"], ExchangeServiceSettings(restart_initial_s=0.01, restart_max_s=0.01)
    )
    with pytest.raises(ExchangeError, match="bad symbol X"):
        await asyncio.wait_for(service.run(asyncio.Event()), timeout=5)
    assert adapter.streams_started == 2 and service.counters.stream_restarts == 1
    await service_bus.close()


@dataclass
class PingingAdapter(ScriptedAdapter):
    """Reports its stream alive after each candle, as an adapter that can ping does."""

    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate | StreamAlive]:
        return self._pinging(list(symbols))

    async def _pinging(self, symbols: list[str]) -> AsyncIterator[CandleUpdate | StreamAlive]:
        for candle in self.live:
            for symbol in symbols:
                yield CandleUpdate(self.name, symbol, candle)
            yield StreamAlive(self.name, tuple(symbols), candle.time + MINUTE_MS + 2_000)
        await asyncio.Event().wait()


async def test_liveness_reports_follow_the_updates_they_vouch_for_on_the_core_subscription(
    bus: nats.NATS, nats_url: str
) -> None:
    adapter = PingingAdapter(live=[minute(0), minute(1)])
    seen: list[tuple[str, object]] = []

    async def take(msg: nats.aio.msg.Msg) -> None:
        kind = StreamAlive if msg.subject == subjects.stream_alive("fake") else CandleUpdate
        seen.append((msg.subject, codec.decode(msg.data, kind)))

    await bus.subscribe(subjects.MARKET_FEEDS, cb=take)
    plain: list[bytes] = []

    async def take_plain(msg: nats.aio.msg.Msg) -> None:
        plain.append(msg.data)

    await bus.subscribe(subjects.ALL_CANDLE_UPDATES, cb=take_plain)
    await bus.flush()
    service_bus = await nats.connect(nats_url)
    stop, task = await running(ExchangeService(service_bus, adapter, ["BTC/USD"]))
    await eventually(lambda: len(seen) == 4)
    assert [type(m).__name__ for _, m in seen] == ["CandleUpdate", "StreamAlive"] * 2
    assert seen[1][1] == StreamAlive("fake", ("BTC/USD",), minute(0).time + MINUTE_MS + 2_000)
    assert len(plain) == 2  # readers of the update subjects alone never see a report
    assert adapter.streams_started == 0  # stream_market_data was used, not stream_candles
    stop.set()
    await task
    await service_bus.close()
