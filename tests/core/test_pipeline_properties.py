"""Property tests: however a clean 1-minute series is delivered (versions, duplicates, re-sends,
reordering, lost stretches, snapshots, late or missing backfill answers), the pipeline ends with
the clean series stored, each candle closed once, and rollups equal to resampling it."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.core.harness import DAY_MS, MARKET, T0, Recorder, assert_same_series, reference, update
from tradewinds.core.pipeline import CandlePipeline, PipelineConfig
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import BackfillRequest, CandleUpdate, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS, ROLLUP_TIMEFRAMES, Timeframe

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


# Bulk randomness comes from a seeded generator: drawing every choice through Hypothesis would cap
# the size of the series it can build.
SEEDS = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class Minute:
    """The versions an exchange streams for one minute, in trade order; the last is the final candle."""

    versions: tuple[Candle, ...]

    @property
    def final(self) -> Candle:
        return self.versions[-1]

    @property
    def time(self) -> int:
        return self.final.time


def trade_versions(time: int, price: float, rnd: random.Random) -> tuple[Candle, ...]:
    """Candles after each trade of the minute: each later version has more volume."""
    versions: list[Candle] = []
    high = low = price
    volume = 0.0
    for _ in range(rnd.randint(1, 4)):
        price = round(price * (1 + rnd.uniform(-0.002, 0.002)), 2)
        high, low = max(high, price), min(low, price)
        volume += round(rnd.uniform(0.001, 3.0), 8)
        opened = versions[0].open if versions else price
        versions.append(Candle(time, opened, max(high, opened), min(low, opened), price, volume))
    return tuple(versions)


@st.composite
def clean_series(draw: st.DrawFn, start_ms: int, max_minutes: int) -> list[Minute]:
    """Minutes from `start_ms` (the first and last have trades, others may not)."""
    low, high = draw(st.sampled_from([(2, 12), (12, 60), (60, max_minutes)]))
    rnd = random.Random(draw(SEEDS))
    count = rnd.randint(min(low, max_minutes), min(high, max_minutes))
    price = 100.0
    minutes = []
    for i in range(count):
        if 0 < i < count - 1 and rnd.random() < 0.15:
            continue  # no trades, no candle
        m = Minute(trade_versions(start_ms + i * MINUTE_MS, price, rnd))
        price = m.final.close
        minutes.append(m)
    return minutes


class FakeAdapter:
    """Answers backfill requests from the clean history, like an exchange adapter would."""

    def __init__(self, series: list[Minute]) -> None:
        self.finals = {m.time: m.final for m in series}
        self.queue: deque[BackfillRequest] = deque()

    def answer(self, rec: Recorder, now: int | None = None) -> None:
        request = self.queue.popleft()
        history = [c for t, c in sorted(self.finals.items()) if request.since_ms <= t <= request.until_ms]
        rec.feed_all([update(c, UpdateSource.BACKFILL) for c in history], now)
        rec.backfill_done(request)

    def take_requests(self, rec: Recorder, seen: int) -> int:
        self.queue.extend(rec.requests[seen:])
        return len(rec.requests)


def assert_converged(rec: Recorder, series: list[Minute]) -> None:
    stats = rec.pipeline.stats
    event(f"minutes: {len(series) // 25 * 25}+")
    for name in ("corrections", "backfills_requested", "backfills_expired", "stale", "too_old"):
        event(f"{name}: {'yes' if getattr(stats, name) else 'no'}")
    event(f"timeouts: {'yes' if any(c.reason.value == 'timeout' for c in rec.closed) else 'no'}")
    finals = [m.final for m in series]
    assert rec.series(Timeframe.M1) == {c.time: c for c in finals}
    assert sorted(c.candle.time for c in rec.published(Timeframe.M1)) == [c.time for c in finals]
    for tf in ROLLUP_TIMEFRAMES:
        assert_same_series(rec.series(tf), reference(finals, tf), tf.label)
    assert rec.pipeline.forming(MARKET) is None
    assert rec.pipeline.outstanding_backfills(MARKET) == 0


def flush(rec: Recorder, adapter: FakeAdapter, seen: int) -> None:
    """Answer every backfill still outstanding, then let the clock close everything."""
    seen = adapter.take_requests(rec, seen)
    while adapter.queue:
        adapter.answer(rec)
        seen = adapter.take_requests(rec, seen)
    rec.clock(rec.now + DAY_MS * 2)


@st.composite
def any_interleaving(draw: st.DrawFn) -> tuple[list[Minute], list[CandleUpdate], list[bool]]:
    """A series within one UTC day and its updates in any order: every version, some repeated,
    snapshot re-sends of final candles, and some minutes lost entirely (recovered by backfill)."""
    offset = draw(st.integers(0, 1440 - 2))
    series = draw(clean_series(T0 + offset * MINUTE_MS, max_minutes=min(120, 1440 - offset)))
    rnd = random.Random(draw(SEEDS))
    updates: list[CandleUpdate] = []
    for i, m in enumerate(series):
        if 0 < i < len(series) - 1 and rnd.random() < 0.1:
            continue  # lost: only a backfill can bring it
        updates.extend(update(v) for v in m.versions)
        if rnd.random() < 0.3:
            updates.append(update(m.final, UpdateSource.SNAPSHOT))
    updates.extend(rnd.choice(updates) for _ in range(rnd.randint(0, len(updates) // 2)))
    ordered = list(updates)
    rnd.shuffle(ordered)
    answer_after = [rnd.random() < 0.2 for _ in ordered]  # answer a pending backfill after this update
    return series, ordered, answer_after


@SETTINGS
@given(any_interleaving())
def test_any_interleaving_converges_to_the_clean_series(
    case: tuple[list[Minute], list[CandleUpdate], list[bool]],
) -> None:
    series, updates, answer_after = case
    rec = Recorder()
    adapter = FakeAdapter(series)
    seen = 0
    now = T0 + DAY_MS  # no clock ticks until the final flush
    for u, answer in zip(updates, answer_after, strict=True):
        rec.feed(u, now)
        seen = adapter.take_requests(rec, seen)
        if answer and adapter.queue:
            adapter.answer(rec, now)
    flush(rec, adapter, seen)
    assert_converged(rec, series)


@dataclass(frozen=True)
class Timed:
    at_ms: int
    update: CandleUpdate


@st.composite
def live_delivery(draw: st.DrawFn) -> tuple[list[Minute], list[Timed], list[int]]:
    """A series that may cross midnight, delivered like a real stream: versions spread over their
    minute, the previous minute's last trade re-sent after the next began, duplicates, small
    reorderings, and connection drops followed by what a reconnecting adapter sends.
    Also returns after how many ms each backfill request will be answered."""
    start = T0 + draw(st.sampled_from([0, 600, 1380, 1430, 1439])) * MINUTE_MS
    series = draw(clean_series(start, max_minutes=150))
    rnd = random.Random(draw(SEEDS))
    stream: list[Timed] = []
    sent: dict[Candle, int] = {}  # when each version happened at the exchange
    for i, m in enumerate(series):
        seconds = sorted(rnd.uniform(0.2, 59.8) for _ in m.versions)
        for j, (s, v) in enumerate(zip(seconds, m.versions, strict=True)):
            at = m.time + int(s * 1000)
            last = j == len(m.versions) - 1
            if last and j > 0 and i < len(series) - 1 and rnd.random() < 0.25:
                at = series[i + 1].time + rnd.randint(100, 3_000)  # re-sent after the next began
            sent[v] = at
            stream.append(Timed(at, update(v)))
            if rnd.random() < 0.1:
                stream.append(Timed(at + rnd.randint(0, 2_000), update(v)))
    stream.sort(key=lambda t: t.at_ms)
    stream = _with_disconnects(stream, series, sent, rnd)
    for k in range(1, len(stream) - 1):  # an update delayed past the next (never the very first)
        if rnd.random() < 0.05:
            a, b = stream[k], stream[k + 1]
            stream[k], stream[k + 1] = b, Timed(b.at_ms, a.update)
    delays = [rnd.choice([200, 5_000, 45_000, 90_000, 400_000]) for _ in range(64)]
    return series, stream, delays


def _with_disconnects(
    stream: list[Timed], series: list[Minute], sent: dict[Candle, int], rnd: random.Random
) -> list[Timed]:
    """Drop stretches of the stream; after each, add what a reconnecting adapter sends."""
    end = series[-1].time
    out: list[Timed] = []
    k = 0
    while k < len(stream):
        item = stream[k]
        if k == 0 or item.at_ms >= end or rnd.random() > 0.01:
            out.append(item)
            k += 1
            continue
        resume = min(item.at_ms + rnd.randint(1_000, 600_000), end)
        while k < len(stream) and stream[k].at_ms < resume:
            k += 1  # lost while disconnected
        out.extend(_reconnect(series, sent, item.at_ms, resume, rnd))
    return out


def _reconnect(
    series: list[Minute], sent: dict[Candle, int], dropped_ms: int, resume_ms: int, rnd: random.Random
) -> list[Timed]:
    """A snapshot (newest first) of the candles as they are at `resume_ms`, reaching back to the
    minutes around the drop, or a shallow snapshot plus the adapter's REST backfill of the
    minutes since that one (the adapter contract: no closed candle is lost)."""
    # The candle before the drop's counts too: its last trade may be re-sent after the next began.
    dropped_minute = dropped_ms - dropped_ms % MINUTE_MS
    dropped_minute = max((m.time for m in series if m.time < dropped_minute), default=dropped_minute)
    resume_minute = resume_ms - resume_ms % MINUTE_MS
    history: list[Timed] = []
    if rnd.random() < 0.5:
        history = [
            Timed(resume_ms, update(m.final, UpdateSource.BACKFILL))
            for m in series
            if dropped_minute <= m.time < resume_minute
        ]
        dropped_minute = resume_minute
    snapshot = []
    for m in reversed(series):
        if dropped_minute <= m.time <= resume_ms:
            happened = [v for v in m.versions if sent[v] <= resume_ms]
            if happened:
                snapshot.append(Timed(resume_ms, update(happened[-1], UpdateSource.SNAPSHOT)))
    return snapshot + history


@SETTINGS
@given(live_delivery())
def test_live_delivery_with_clock_converges_and_rollups_match_resampling(
    case: tuple[list[Minute], list[Timed], list[int]],
) -> None:
    series, stream, delays = case
    rec = Recorder(CandlePipeline(PipelineConfig(grace_ms=5_000, backfill_timeout_ms=60_000)))
    adapter = FakeAdapter(series)
    due: list[tuple[int, BackfillRequest]] = []
    seen = 0
    last_tick = stream[0].at_ms
    for item in stream:
        if item.at_ms // 1000 > last_tick // 1000:  # the service ticks every second
            last_tick = item.at_ms - item.at_ms % 1000
            rec.clock(last_tick)
        for when, request in [d for d in due if d[0] <= item.at_ms]:
            due.remove((when, request))
            adapter.queue.append(request)
            adapter.answer(rec, when)
        rec.feed(item.update, item.at_ms)
        for request in rec.requests[seen:]:
            due.append((item.at_ms + delays[len(due) % len(delays)], request))
        seen = len(rec.requests)
    for _when, request in sorted(due, key=lambda d: d[0]):
        adapter.queue.append(request)
    flush(rec, adapter, seen)
    assert_converged(rec, series)
