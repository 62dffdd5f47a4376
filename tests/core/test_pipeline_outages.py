"""CandlePipeline around outages and restarts: liveness reports, held and late rollups, filling back
to what was stored (issue 8, items 3 and 5)."""

from __future__ import annotations

from tests.core.harness import (
    DAY_MS,
    MARKET,
    T0,
    Recorder,
    assert_same_series,
    candle,
    reference,
    update,
)
from tradewinds.core.pipeline import CandlePipeline, PipelineConfig, StoredUntil
from tradewinds.domain.candles import Market
from tradewinds.domain.messages import CloseReason, UpdateSource
from tradewinds.domain.timeframes import ROLLUP_TIMEFRAMES, Timeframe

M = 60_000
GRACE = 5_000
AT_22 = T0 + 22 * 60 * M


def five_minute_pipeline() -> Recorder:
    return Recorder(CandlePipeline(PipelineConfig(rollup_timeframes=(Timeframe.M5,), startup_backfill=False)))


def true_minute(i: int) -> object:
    """Minute 22:00 + i as it finally closed (the last version has volume 3)."""
    return candle(AT_22 + i * M, price=100 + i, volume=3.0, spread=2.0)


def early_version(i: int) -> object:
    return candle(AT_22 + i * M, price=100 + i, volume=1.0, spread=1.0)


def run_outage(rec: Recorder, liveness: bool) -> None:
    """The issue's reproduction: minutes 22:00-22:05 streamed with clock ticks (22:05 only its
    first version), an 11-minute outage of clock ticks alone, then 22:05-22:16 as BACKFILL and
    live again from 22:17."""
    for i in range(6):
        rec.feed(update(early_version(i) if i == 5 else true_minute(i)), now=AT_22 + i * M + 1_000)
        boundary = AT_22 + (i + 1) * M + 2_000
        if liveness and i < 5:  # the outage begins during 22:05: no report covers its end
            rec.alive(boundary, now=boundary)
        rec.clock(boundary)
    for t in range(AT_22 + 6 * M, AT_22 + 17 * M, 10_000):
        rec.clock(t)
    rec.feed_all([update(true_minute(i), UpdateSource.BACKFILL) for i in range(5, 17)], now=AT_22 + 17 * M)
    for i in range(17, 21):
        rec.feed(update(true_minute(i)), now=AT_22 + i * M + 1_000)
        boundary = AT_22 + (i + 1) * M + 2_000
        if liveness:
            rec.alive(boundary, now=boundary)
        rec.clock(boundary)


def five_minute_closes(rec: Recorder) -> dict[int, object]:
    return {c.candle.time: c.candle for c in rec.published(Timeframe.M5)}


def test_an_outage_holds_its_rollups_and_publishes_each_once_complete() -> None:
    rec = five_minute_pipeline()
    run_outage(rec, liveness=True)
    truth = [true_minute(i) for i in range(21)]
    want = {t: c for t, c in reference(truth, Timeframe.M5).items() if t + Timeframe.M5.ms <= AT_22 + 20 * M}
    assert sorted(five_minute_closes(rec)) == [AT_22, AT_22 + 5 * M, AT_22 + 10 * M, AT_22 + 15 * M]
    assert_same_series(five_minute_closes(rec), want, "5m")
    # No 1-minute close from stale data: 22:05 waited for the backfill, and nothing was corrected.
    published = {c.candle.time: c for c in rec.published(Timeframe.M1)}
    assert published[AT_22 + 5 * M].candle == true_minute(5)
    assert published[AT_22 + 5 * M].reason is CloseReason.BACKFILL
    assert rec.correction_count == 0


def test_without_liveness_a_bucket_skipped_by_the_clock_is_published_once_backfilled() -> None:
    """Adapters that cannot ping fall back to the grace time: the clock closes what looks like a
    quiet market. A bucket closed empty was never published, so its backfilled minutes publish it."""
    rec = five_minute_pipeline()
    run_outage(rec, liveness=False)
    closes = five_minute_closes(rec)
    assert sorted(closes) == [AT_22, AT_22 + 5 * M, AT_22 + 10 * M, AT_22 + 15 * M]
    truth = reference([true_minute(i) for i in range(21)], Timeframe.M5)
    assert_same_series(
        {AT_22 + 10 * M: closes[AT_22 + 10 * M]}, {AT_22 + 10 * M: truth[AT_22 + 10 * M]}, "5m"
    )
    # What the clock closed from stale data before the backfill stays corrected in the store.
    assert rec.series(Timeframe.M5)[AT_22 + 5 * M] == truth[AT_22 + 5 * M]


def test_liveness_closes_a_minute_sooner_than_the_grace_time() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    rec.feed(update(candle(T0)), now=T0 + 1_000)
    assert rec.alive(T0 + M + 999).closed == []  # the venue may still report a trade of it
    out = rec.alive(T0 + M + 1_000)
    assert [(c.timeframe, c.reason) for c in out.closed] == [("1m", CloseReason.TIMEOUT)]


def test_a_market_with_liveness_does_not_close_by_the_clock_while_its_stream_is_silent() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    silent = Market("bitfinex", "ETH/USD")  # on a connection that never answered a ping
    generic = Market("kraken", "BTC/USD")  # an adapter that cannot ping: the grace time
    for market in (MARKET, silent, generic):
        rec.feed(update(candle(T0), market=market), now=T0 + 1_000)
    rec.alive(T0 + 2_000)  # reported before the minute ended
    out = rec.clock(T0 + 30 * M)
    assert [c.symbol for c in out.closed if c.timeframe == "1m"] == ["BTC/USD"]
    assert [c.exchange for c in out.closed if c.timeframe == "1m"] == ["kraken"]
    assert rec.pipeline.forming(MARKET) == candle(T0)
    assert rec.pipeline.forming(silent) == candle(T0)
    # Another market's report says nothing about this one.
    rec.alive(T0 + 31 * M, market=silent)
    assert rec.pipeline.forming(MARKET) == candle(T0)
    assert rec.pipeline.forming(silent) is None
    # The adapter notices, reconnects and delivers the minute as history.
    late = rec.feed(update(candle(T0, volume=2.0), UpdateSource.BACKFILL), now=T0 + 31 * M)
    assert [(c.candle.volume, c.reason) for c in late.closed if c.timeframe == "1m"] == [
        (2.0, CloseReason.BACKFILL)
    ]


def test_a_liveness_report_ahead_of_our_clock_closes_nothing_early() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    rec.feed(update(candle(T0)), now=T0 + 1_000)
    assert rec.alive(T0 + 10 * M, now=T0 + 30_000).closed == []
    assert [c.timeframe for c in rec.alive(T0 + 10 * M + 1, now=T0 + M + 1_000).closed] == ["1m"]


def test_a_report_before_a_markets_first_update_counts() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    rec.alive(T0 + 500)
    rec.feed(update(candle(T0)), now=T0 + 1_000)
    assert rec.clock(T0 + 10 * M).closed == []  # the stream reports liveness: the clock alone waits


# --- restarts ------------------------------------------------------------------------------


def day_of_minutes(start: int, count: int) -> list:
    return [candle(start + i * M, price=100 + (i * 7) % 23, volume=1 + i % 5) for i in range(count)]


def test_a_restart_across_midnight_fills_back_to_the_last_stored_minute() -> None:
    """Stopped at 23:50 (minutes up to 23:49 stored), started at 00:30 the next day: the previous
    day's last minutes and its 5m ... 1d candles are completed and published."""
    yesterday = T0
    today = T0 + DAY_MS
    history = day_of_minutes(yesterday, 24 * 60 + 30)  # yesterday 00:00 to today 00:29
    stored_until = yesterday + DAY_MS - 11 * M  # 23:49
    newest_rollups = {
        tf: tf.bucket_start(stored_until + M) - tf.ms for tf in ROLLUP_TIMEFRAMES
    }  # the buckets closed before the stop
    rec = Recorder(CandlePipeline(PipelineConfig(backfill_timeout_ms=30 * M)))
    rec.pipeline.resume_from(MARKET, StoredUntil(stored_until, newest_rollups))
    started = today + 30 * M + 1_000
    window = started - DAY_MS  # the bus drops a repeat of what was published after this
    rec.feed(update(candle(today + 30 * M)), now=started)
    [request] = rec.requests
    assert (request.since_ms, request.until_ms) == (yesterday, today + 29 * M)
    rec.feed_all([update(c, UpdateSource.BACKFILL) for c in history], now=today + 30 * M + 2_000)
    rec.backfill_done(request)
    rec.clock(today + 31 * M + GRACE)
    everything = [*history, candle(today + 30 * M)]
    for tf in ROLLUP_TIMEFRAMES:
        published = {c.candle.time: c.candle for c in rec.published(tf)}
        over = {t: c for t, c in reference(everything, tf).items() if t + tf.ms <= today + 31 * M}
        # Every bucket the stop left open is published; older ones are published again only
        # within the bus's duplicate window (the day before now), where a repeat is dropped.
        want = {t: c for t, c in over.items() if t > newest_rollups[tf] or t >= window}
        assert_same_series(published, want, tf.label)
        assert_same_series(rec.series(tf), over, tf.label)
    minutes = {c.candle.time for c in rec.published(Timeframe.M1)}
    assert set(range(stored_until + M, today + 31 * M, M)) <= minutes  # 23:50 ... 00:30
    assert min(minutes) == window - window % M + M  # stored ones only within the window
    assert [c.timeframe for c in rec.published(Timeframe.D1)] == ["1d"]


def test_filling_back_is_bounded_and_says_so() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(max_fill_back_ms=2 * DAY_MS)))
    start = T0 + 10 * DAY_MS + 5 * 60 * M
    rec.pipeline.resume_from(MARKET, StoredUntil(T0))
    out = rec.feed(update(candle(start)), now=start + 1_000)
    [request] = out.backfills
    assert request.since_ms == T0 + 9 * DAY_MS  # two days back, rounded up to whole days
    [notice] = out.notices
    assert "bitfinex:BTC/USD was last stored at 2023-11-15T00:00:00Z" in notice
    assert "filling back only from 2023-11-24T00:00:00Z (at most 48 h)" in notice


def test_a_market_stored_earlier_today_backfills_the_day_as_before() -> None:
    rec = Recorder()
    rec.pipeline.resume_from(MARKET, StoredUntil(T0 + 60 * M))
    out = rec.feed(update(candle(T0 + 90 * M)), now=T0 + 90 * M + 1_000)
    assert [(r.since_ms, r.until_ms) for r in out.backfills] == [(T0, T0 + 89 * M)]
    assert out.notices == []


def new_adapter_overtakes_the_forming_minute() -> Recorder:
    """Minute 0 forms (first version), the adapter process stops before its end and a new one
    subscribes two minutes later: its snapshot starts at minute 2."""
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False, backfill_timeout_ms=30_000)))
    rec.alive(T0 + 500)
    rec.feed(update(candle(T0, volume=1.0)), now=T0 + 1_000)
    rec.feed(update(candle(T0 + 2 * M), UpdateSource.SNAPSHOT), now=T0 + 2 * M + 5_000)
    return rec


def test_a_new_adapters_snapshot_does_not_close_the_forming_minute_from_what_was_seen() -> None:
    rec = new_adapter_overtakes_the_forming_minute()
    assert rec.published(Timeframe.M1) == []
    [request] = rec.requests
    assert (request.since_ms, request.until_ms) == (T0, T0 + M)
    out = rec.feed(update(candle(T0, volume=4.0), UpdateSource.BACKFILL), now=T0 + 2 * M + 6_000)
    assert [(c.candle.volume, c.reason) for c in out.closed if c.timeframe == "1m"] == [
        (4.0, CloseReason.BACKFILL)
    ]
    rec.backfill_done(request)
    assert [c.candle.volume for c in rec.published(Timeframe.M1)] == [4.0]
    assert rec.correction_count == 0


def test_a_set_aside_minute_history_lacks_closes_as_last_seen() -> None:
    rec = new_adapter_overtakes_the_forming_minute()
    [request] = rec.requests
    out = rec.backfill_done(request)  # REST had nothing yet
    assert [(c.candle.volume, c.reason) for c in out.closed if c.timeframe == "1m"] == [
        (1.0, CloseReason.NEXT_CANDLE)
    ]
    rec.alive(T0 + 5 * M + 2_000)
    assert [c.candle.time for c in rec.published(Timeframe.M5)] == [T0]
