"""A recorder around CandlePipeline: keeps what a store would hold and checks invariants as it goes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tradewinds.core.pipeline import CandlePipeline, PipelineOutput
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle, Market
from tradewinds.domain.messages import (
    BackfillRequest,
    CandleUpdate,
    ClosedCandle,
    CloseReason,
    StreamAlive,
    UpdateSource,
)
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe

MARKET = Market("bitfinex", "BTC/USD")
DAY_MS = Timeframe.D1.ms
T0 = 1_700_006_400_000  # 2023-11-15T00:00:00Z, a UTC midnight


def candle(time: int, price: float = 100.0, volume: float = 1.0, spread: float = 1.0) -> Candle:
    """A valid candle; a larger volume with a wider range plays a later version of the minute."""
    return Candle(time, price, price + spread, price - spread, price + spread / 2, volume)


def update(c: Candle, source: UpdateSource = UpdateSource.LIVE, market: Market = MARKET) -> CandleUpdate:
    return CandleUpdate(market.exchange, market.symbol, c, source)


def reference(minutes: Iterable[Candle], timeframe: Timeframe) -> dict[int, Candle]:
    """Rollup candles by bucket start, as resample_candles makes them."""
    rows = sorted(minutes, key=lambda c: c.time)
    if not rows:
        return {}
    return {c.time: c for c in resample_candles(CandleArrays.from_candles(rows), timeframe).to_candles()}


def same_candle(a: Candle, b: Candle) -> bool:
    """Equal, except the volume sum may round differently in the last bits."""
    return (a.time, a.open, a.high, a.low, a.close) == (b.time, b.open, b.high, b.low, b.close) and bool(
        np.isclose(a.volume, b.volume, rtol=1e-12, atol=0)
    )


def assert_same_series(got: dict[int, Candle], want: dict[int, Candle], label: str) -> None:
    assert sorted(got) == sorted(want), f"{label}: bucket times differ"
    for time, c in want.items():
        assert same_candle(got[time], c), f"{label} at {time}: got {got[time]}, want {c}"


class Recorder:
    """Feeds a pipeline and records its outputs like the service would store and publish them."""

    def __init__(self, pipeline: CandlePipeline | None = None) -> None:
        self.pipeline = pipeline or CandlePipeline()
        self.grace_ms = self.pipeline.config.grace_ms
        self.closed: list[ClosedCandle] = []
        self.requests: list[BackfillRequest] = []
        self.expired: list[BackfillRequest] = []
        self.correction_count = 0
        self.now = 0
        # (market, timeframe label, open time) -> the candle a store would hold
        self.stored: dict[tuple[Market, str, int], Candle] = {}
        self._published: set[tuple[Market, str, int]] = set()
        self._latest_delivered: dict[Market, int] = {}
        self._known_until: dict[Market, int] = {}  # what liveness reports vouched for

    def feed(self, u: CandleUpdate, now: int | None = None) -> PipelineOutput:
        # Without a clock given, the update arrives a second into its minute (or later).
        self.now = max(self.now, now if now is not None else u.candle.time + 1_000)
        market = Market(u.exchange, u.symbol)
        latest = self._latest_delivered.get(market, u.candle.time)
        self._latest_delivered[market] = max(latest, u.candle.time)
        return self._take(self.pipeline.on_update(u, self.now))

    def feed_all(self, updates: Sequence[CandleUpdate], now: int | None = None) -> PipelineOutput:
        out = PipelineOutput()
        for u in updates:
            out.extend(self.feed(u, now))
        return out

    def clock(self, now: int) -> PipelineOutput:
        self.now = max(self.now, now)
        return self._take(self.pipeline.on_clock(self.now))

    def alive(self, until_ms: int, now: int | None = None, market: Market = MARKET) -> PipelineOutput:
        """The adapter reports `market`'s stream complete up to `until_ms` (arriving at `now`)."""
        self.now = max(self.now, now if now is not None else until_ms)
        known = min(until_ms, self.now) - self.pipeline.config.alive_settle_ms
        self._known_until[market] = max(self._known_until.get(market, known), known)
        report = StreamAlive(market.exchange, (market.symbol,), until_ms)
        return self._take(self.pipeline.on_alive(report, self.now))

    def backfill_done(self, request: BackfillRequest) -> PipelineOutput:
        market = Market(request.exchange, request.symbol)
        return self._take(self.pipeline.on_backfill_done(market, request.since_ms, request.until_ms))

    def series(self, timeframe: Timeframe, market: Market = MARKET) -> dict[int, Candle]:
        """What the store holds for one series (closes with corrections applied)."""
        label = timeframe.label
        return {t: c for (m, tf, t), c in self.stored.items() if m == market and tf == label}

    def published(self, timeframe: Timeframe, market: Market = MARKET) -> list[ClosedCandle]:
        return [
            c
            for c in self.closed
            if c.timeframe == timeframe.label and Market(c.exchange, c.symbol) == market
        ]

    def _take(self, out: PipelineOutput) -> PipelineOutput:
        # The service stores a whole output before publishing; a rollup closed in this output may
        # already include a minute corrected in it.
        for fix in out.corrections:
            self.correction_count += 1
            self.stored[(Market(fix.exchange, fix.symbol), fix.timeframe, fix.candle.time)] = fix.candle
        for closed in out.closed:
            self._check_close(closed)
            self.closed.append(closed)
            self.stored[(Market(closed.exchange, closed.symbol), closed.timeframe, closed.candle.time)] = (
                closed.candle
            )
        self.requests.extend(out.backfills)
        self.expired.extend(out.expired_backfills)
        return out

    def _check_close(self, closed: ClosedCandle) -> None:
        market = Market(closed.exchange, closed.symbol)
        time = closed.candle.time
        key = (market, closed.timeframe, time)
        assert key not in self._published, f"{key} was published as closed twice"
        self._published.add(key)
        if closed.timeframe != Timeframe.M1.label:
            assert closed.reason is CloseReason.ROLLUP
            tf = Timeframe.parse(closed.timeframe)
            # A rollup is exactly the minutes stored (and published) for its bucket at that moment.
            found = (self.stored.get((market, "1m", t)) for t in range(time, time + tf.ms, MINUTE_MS))
            minutes = [c for c in found if c is not None]
            want = reference(minutes, tf)
            assert list(want) == [time], f"rollup {key} has no stored minutes"
            assert same_candle(closed.candle, want[time]), f"rollup {key} differs from its stored minutes"
            forming = self.pipeline.forming(market)
            assert forming is None or not time <= forming.time < time + tf.ms, f"{key} closed while forming"
        elif closed.reason is CloseReason.NEXT_CANDLE:
            assert self._latest_delivered[market] > time, f"minute {time} closed before a later one arrived"
        elif closed.reason is CloseReason.TIMEOUT:
            end = time + MINUTE_MS
            if any(m.exchange == market.exchange for m in self._known_until):  # by liveness alone
                assert self._known_until.get(market, 0) >= end, (
                    f"minute {time} closed before the stream vouched for it"
                )
            else:
                assert self.now >= end + self.grace_ms, f"minute {time} timed out early"
