"""Three days of real Coinbase 1-minute candles (with a real gap) streamed through the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.core.harness import Recorder, assert_same_series, reference, update
from tradewinds.core.pipeline import CandlePipeline
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candles import Candle, Market
from tradewinds.domain.messages import BackfillRequest, CloseReason, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS, ROLLUP_TIMEFRAMES, Timeframe

DATA = Path(__file__).parents[2] / "data" / "coinbase_BTCUSD_1m_2018-04-04_06.csv"
COINBASE = Market("coinbase", "BTC/USD")
TICK_MS = 15_000  # clock ticks simulated every 15 s (the service ticks every second)


def versions(final: Candle) -> list[tuple[int, Candle]]:
    """How a stream would show the minute: two partial versions, then the final one."""
    t, o = final.time, final.open
    return [
        (t + 10_000, Candle(t, o, o, o, o, final.volume * 0.25)),
        (t + 30_000, Candle(t, o, final.high, final.low, final.close, final.volume * 0.6)),
        (t + 50_000, final),
    ]


def test_real_series_rollups_match_resampling_and_the_gaps_are_backfilled() -> None:
    series = read_candle_csv(DATA).to_candles()
    by_time = {c.time: c for c in series}
    rec = Recorder(CandlePipeline())
    pending: list[tuple[int, BackfillRequest]] = []  # (answer at, request)
    clock = series[0].time

    def answer_due(now: int) -> None:
        for due in [p for p in pending if p[0] <= now]:
            pending.remove(due)
            request = due[1]
            history = [
                by_time[t] for t in range(request.since_ms, request.until_ms + 1, MINUTE_MS) if t in by_time
            ]
            rec.feed_all([update(c, UpdateSource.BACKFILL, COINBASE) for c in history], now)
            rec.backfill_done(request)

    for final in series:
        for at, version in versions(final):
            while clock + TICK_MS <= at:  # through the quiet hours too
                clock += TICK_MS
                answer_due(clock)
                rec.clock(clock)
            before = len(rec.requests)
            rec.feed(update(version, market=COINBASE), at)
            pending.extend((at + 2_000, r) for r in rec.requests[before:])
    answer_due(clock + 10 * MINUTE_MS)
    rec.clock(clock + 2 * Timeframe.D1.ms)

    times = np.array([c.time for c in series])
    holes = np.flatnonzero(np.diff(times) > MINUTE_MS)
    expected = [(int(times[i]) + MINUTE_MS, int(times[i + 1]) - MINUTE_MS) for i in holes]
    assert len(expected) == 2  # the source file's two gaps (432 minutes and 1 minute)
    assert [(r.since_ms, r.until_ms) for r in rec.requests] == expected
    assert rec.expired == []

    assert rec.series(Timeframe.M1, COINBASE) == by_time
    for tf in ROLLUP_TIMEFRAMES:
        published = {c.candle.time: c.candle for c in rec.published(tf, COINBASE)}
        assert_same_series(published, reference(series, tf), tf.label)
    # Delivered in order, nothing had to be corrected, and every minute closed as its successor came.
    assert rec.correction_count == 0
    reasons = {c.reason for c in rec.published(Timeframe.M1, COINBASE)}
    assert reasons == {CloseReason.NEXT_CANDLE, CloseReason.TIMEOUT}
