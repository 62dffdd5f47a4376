"""Property test: for a stream whose adapter reports liveness, any pattern of outages (the stream
silent, then resumed the way a reconnecting adapter resumes it) yields exactly the closes the
uninterrupted stream yields: every 1-minute candle and every rollup published once, as it truly
is, and nothing corrected afterwards."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from hypothesis import event, given
from hypothesis import strategies as st

from tests.core.harness import DAY_MS, MARKET, T0, Recorder, assert_same_series, reference, update
from tests.core.test_pipeline_properties import SEEDS, SETTINGS, Minute, clean_series
from tradewinds.core.pipeline import CandlePipeline, PipelineConfig
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import BackfillRequest, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS, ROLLUP_TIMEFRAMES, Timeframe
from tradewinds.exchange.resume import plan_resume

PING_DELAY_MS = 2_000  # the adapter pings this long after each minute boundary


@dataclass(frozen=True)
class Outage:
    start_ms: int
    end_ms: int  # the adapter has reconnected and resumes at this time


@dataclass(frozen=True)
class Case:
    series: list[Minute]
    at: dict[Candle, int]  # when each version was streamed
    outages: list[Outage]
    answer_delays: list[int] = field(default_factory=list)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    start = T0 + draw(st.sampled_from([0, 7, 1380, 1436])) * MINUTE_MS
    series = draw(clean_series(start, max_minutes=90))
    rnd = random.Random(draw(SEEDS))
    at: dict[Candle, int] = {}
    for m in series:
        seconds = sorted(rnd.uniform(0.2, 58.0) for _ in m.versions)
        for s, v in zip(seconds, m.versions, strict=True):
            at[v] = m.time + int(s * 1000)
    first, end = min(at.values()), series[-1].time + MINUTE_MS
    outages: list[Outage] = []
    cursor = first + 1
    for _ in range(draw(st.integers(0, 4))):
        kind = rnd.random()
        if kind < 0.4:  # silent from a few seconds before a minute ends
            boundary = cursor - cursor % MINUTE_MS + MINUTE_MS * rnd.randint(1, 10)
            begin = boundary - rnd.randint(500, 8_000)
        else:
            begin = cursor + rnd.randint(0, 20 * MINUTE_MS)
        length = rnd.choice([1_500, 30_000, 70_000, 5 * MINUTE_MS, 13 * MINUTE_MS, 40 * MINUTE_MS])
        if begin >= end:
            break
        outages.append(Outage(begin, begin + rnd.randint(length // 2, length)))
        cursor = outages[-1].end_ms + 1
    delays = [rnd.choice([100, 2_000, 20_000]) for _ in range(16)]
    return Case(series, at, outages, delays)


class Run:
    """Delivers the case to a pipeline as the adapter and the core service would, in time order."""

    def __init__(self, case: Case, outages: list[Outage]) -> None:
        self.case = case
        self.outages = outages
        self.rec = Recorder(
            CandlePipeline(PipelineConfig(startup_backfill=False, backfill_timeout_ms=10 * MINUTE_MS))
        )
        self.finals = {m.time: m.final for m in case.series}
        self.last_seen: int | None = None  # the newest minute the adapter delivered
        self.pending: list[tuple[int, int, BackfillRequest]] = []  # (due, order, request)
        self.answered = 0

    def down(self, at_ms: int) -> Outage | None:
        return next((o for o in self.outages if o.start_ms <= at_ms < o.end_ms), None)

    def run(self) -> Recorder:
        events: list[tuple[int, int, str, object]] = []
        for order, (version, at) in enumerate(self.case.at.items()):
            events.append((at, order, "update", version))
        first = min(self.case.at.values())
        end = self.case.series[-1].time + 3 * MINUTE_MS
        # The adapter pings when its subscription is in (before the first update) and after each
        # minute boundary.
        events.append((first - 1, 0, "alive", None))
        for boundary in range(first - first % MINUTE_MS + MINUTE_MS, end, MINUTE_MS):
            events.append((boundary + PING_DELAY_MS, 0, "alive", None))
        for second in range(first - first % 1000 + 1000, end, 1000):
            events.append((second, -1, "tick", None))
        for outage in self.outages:
            events.append((outage.end_ms, -2, "resume", outage))
        for at, _order, kind, payload in sorted(events, key=lambda e: (e[0], e[1])):
            self.answer_due(at)
            if kind == "resume":
                assert isinstance(payload, Outage)
                self.resume(payload.end_ms)
            elif kind == "tick":  # the core's own clock goes on
                self.rec.clock(at)
            elif self.down(at) is not None:
                continue  # silent: nothing the venue sends arrives, pings go unanswered
            elif kind == "update":
                assert isinstance(payload, Candle)
                self.deliver(payload, UpdateSource.LIVE, at)
            else:
                self.rec.alive(at, now=at)
        self.flush(end)
        return self.rec

    def deliver(self, candle: Candle, source: UpdateSource, at: int) -> None:
        self.last_seen = candle.time if self.last_seen is None else max(self.last_seen, candle.time)
        seen = len(self.rec.requests)
        self.rec.feed(update(candle, source), at)
        for request in self.rec.requests[seen:]:
            delay = self.case.answer_delays[len(self.pending) % len(self.case.answer_delays)]
            heapq.heappush(self.pending, (at + delay, len(self.rec.requests), request))

    def resume(self, at: int) -> None:
        """What BitfinexCandleStream does after reconnecting: plan from the snapshot (the newest
        candles as they are now) and deliver the gap as BACKFILL, then the rest as SNAPSHOT."""
        snapshot = [self.as_of(m, at) for m in self.case.series if m.time <= at]
        snapshot = [c for c in snapshot if c is not None][-3:]
        plan = plan_resume(self.last_seen, snapshot, at, PING_DELAY_MS, trust_snapshot=True)
        history = list(plan.closed)
        if plan.fetch is not None:
            since, until = plan.fetch
            history = [c for t, c in sorted(self.finals.items()) if since <= t <= until]
        for c in history:
            self.deliver(c, UpdateSource.BACKFILL, at)
        for c in plan.current:
            self.deliver(c, UpdateSource.SNAPSHOT, at)
        self.rec.alive(at, now=at)  # and pings once the market is resumed

    def as_of(self, minute: Minute, at: int) -> Candle | None:
        happened = [v for v in minute.versions if self.case.at[v] <= at]
        return happened[-1] if happened else None

    def answer_due(self, now: int) -> None:
        while self.pending and self.pending[0][0] <= now:
            due, _order, request = heapq.heappop(self.pending)
            history = [c for t, c in sorted(self.finals.items()) if request.since_ms <= t <= request.until_ms]
            for c in history:
                self.rec.feed(update(c, UpdateSource.BACKFILL), due)
            self.rec.backfill_done(request)
            self.answered += 1

    def flush(self, end: int) -> None:
        self.answer_due(end + DAY_MS)
        self.rec.alive(end + 2 * DAY_MS, now=end + 2 * DAY_MS)
        self.rec.clock(end + 2 * DAY_MS)


def published(rec: Recorder, tf: Timeframe) -> dict[int, Candle]:
    return {c.candle.time: c.candle for c in rec.published(tf)}


@SETTINGS
@given(cases())
def test_any_outage_pattern_publishes_what_the_uninterrupted_stream_publishes(case: Case) -> None:
    calm = Run(case, []).run()
    rough_run = Run(case, case.outages)
    rough = rough_run.run()
    event(f"outages: {len(case.outages)}")
    event(f"core backfills: {'yes' if rough_run.answered else 'no'}")
    finals = [m.final for m in case.series]
    assert published(calm, Timeframe.M1) == {c.time: c for c in finals}
    assert published(rough, Timeframe.M1) == published(calm, Timeframe.M1)
    for tf in ROLLUP_TIMEFRAMES:
        want = {t: c for t, c in reference(finals, tf).items() if t >= case.series[0].time}
        assert_same_series(published(calm, tf), want, f"calm {tf.label}")
        assert_same_series(published(rough, tf), published(calm, tf), f"with outages {tf.label}")
    assert rough.correction_count == 0  # nothing published from stale data
    assert rough.pipeline.forming(MARKET) is None
    assert rough.pipeline.outstanding_backfills(MARKET) == 0
