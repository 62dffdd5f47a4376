"""CandlePipeline scenarios: closes, timeouts, re-sends, snapshots, gaps and backfills, rollups."""

from __future__ import annotations

import pytest

from tests.core.harness import MARKET, T0, Recorder, assert_same_series, candle, reference, update
from tradewinds.core.pipeline import CandlePipeline, InvalidUpdate, PipelineConfig
from tradewinds.domain.candles import Market
from tradewinds.domain.messages import BackfillRequest, CandleUpdate, CloseReason, UpdateSource
from tradewinds.domain.timeframes import Timeframe

M = 60_000
GRACE = 5_000


def patient() -> Recorder:
    """A recorder whose pipeline waits half an hour for backfill answers."""
    return Recorder(CandlePipeline(PipelineConfig(backfill_timeout_ms=30 * M)))


def minutes_at(*offsets: int, volume: float = 1.0) -> list:
    return [candle(T0 + i * M, price=100 + i, volume=volume) for i in offsets]


def test_forming_candle_is_never_emitted_as_closed() -> None:
    rec = Recorder()
    for v in (1.0, 2.0, 3.0):
        rec.feed(update(candle(T0, volume=v)), now=T0 + int(v) * 10_000)
    rec.clock(T0 + M + GRACE - 1)
    assert rec.closed == []
    assert rec.pipeline.forming(MARKET) == candle(T0, volume=3.0)


def test_timeout_closes_the_minute_and_its_rollups() -> None:
    rec = Recorder()
    rec.feed(update(candle(T0 + 4 * M)), now=T0 + 4 * M + 1_000)
    [startup] = rec.requests
    rec.backfill_done(startup)  # nothing traded earlier that day
    assert rec.clock(T0 + 5 * M + GRACE - 1).closed == []
    out = rec.clock(T0 + 5 * M + GRACE)
    assert [(c.timeframe, c.reason) for c in out.closed] == [
        ("1m", CloseReason.TIMEOUT),
        ("5m", CloseReason.ROLLUP),
    ]


def test_an_exchange_clock_behind_ours_delays_its_timeouts_by_its_lag() -> None:
    """A simulator replaying the past (or a skewed adapter host) reports when it received each
    update; its minutes close by its clock, not ours, and nothing is corrected afterwards."""
    rec = Recorder()
    lag = 3_600_000
    replayed = CandleUpdate(
        MARKET.exchange, MARKET.symbol, candle(T0 + 4 * M), received_ms=T0 + 4 * M + 1_000
    )
    rec.feed(replayed, now=T0 + 4 * M + 1_000 + lag)
    [startup] = rec.requests
    rec.backfill_done(startup)
    assert rec.clock(T0 + 5 * M + GRACE - 1 + lag).closed == []
    out = rec.clock(T0 + 5 * M + GRACE + lag)
    assert [(c.timeframe, c.reason) for c in out.closed] == [
        ("1m", CloseReason.TIMEOUT),
        ("5m", CloseReason.ROLLUP),
    ]
    # Backfilled history says nothing about the exchange's present: it does not reset the lag.
    live = CandleUpdate(MARKET.exchange, MARKET.symbol, candle(T0 + 6 * M), received_ms=T0 + 6 * M + 1_000)
    rec.feed(live, now=T0 + 6 * M + 1_000 + lag)
    late = CandleUpdate(
        MARKET.exchange,
        MARKET.symbol,
        candle(T0 + 5 * M),
        UpdateSource.BACKFILL,
        received_ms=T0 + 6 * M + lag,
    )
    rec.feed(late, now=T0 + 6 * M + 2_000 + lag)
    assert [c.timeframe for c in rec.clock(T0 + 7 * M + GRACE - 1 + lag).closed] == []
    assert [c.timeframe for c in rec.clock(T0 + 7 * M + GRACE + lag).closed] == ["1m"]
    assert rec.correction_count == 0


def test_an_exchange_clock_ahead_of_ours_closes_nothing_early() -> None:
    rec = Recorder()
    ahead = CandleUpdate(MARKET.exchange, MARKET.symbol, candle(T0), received_ms=T0 + 10 * M)
    rec.feed(ahead, now=T0 + 1_000)
    assert rec.clock(T0 + M + GRACE - 1).closed == []
    assert [c.timeframe for c in rec.clock(T0 + M + GRACE).closed] == ["1m"]


def test_previous_minute_resent_after_the_next_started_is_a_correction() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    rec.feed_all([update(c) for c in minutes_at(0, 1, 2, 3)])
    rec.feed(update(candle(T0 + 4 * M, price=104, volume=1)))
    assert rec.published(Timeframe.M5) == []
    rec.feed(update(candle(T0 + 5 * M, price=105, volume=1)))  # closes minute 4 and the 5m bucket
    assert [c.candle.time for c in rec.published(Timeframe.M5)] == [T0]
    late = rec.feed(update(candle(T0 + 4 * M, price=104, volume=2)))  # Bitfinex re-sends minute 4
    assert late.closed == []
    assert [(c.timeframe, c.candle.volume) for c in late.corrections] == [("1m", 2.0), ("5m", 6.0)]
    assert rec.feed(update(candle(T0 + 4 * M, price=104, volume=1.5))).corrections == []  # stale
    # Minute 4 belongs to the first 5m bucket, already closed: its stored candle is corrected.
    rec.feed(update(candle(T0 + 3 * M, price=103, volume=7)))
    assert_same_series(
        rec.series(Timeframe.M5), reference(rec.series(Timeframe.M1).values(), Timeframe.M5), "5m"
    )
    assert rec.series(Timeframe.M5)[T0].volume == 1 + 1 + 1 + 7 + 2


def test_duplicate_snapshots_after_a_reconnect_change_nothing() -> None:
    rec = Recorder()
    live = minutes_at(*range(12))
    rec.feed_all([update(c) for c in live])
    closed_before, requests_before = len(rec.closed), len(rec.requests)
    snapshot = [update(c, UpdateSource.SNAPSHOT) for c in reversed(live)]  # newest first
    for _ in range(2):
        out = rec.feed_all(snapshot)
        assert not out
    assert len(rec.closed) == closed_before and len(rec.requests) == requests_before
    assert rec.pipeline.stats.duplicates == 2 * len(live)


def test_gap_requests_one_backfill_and_rollups_wait_for_it() -> None:
    rec = patient()
    rec.feed_all([update(c) for c in minutes_at(0, 1, 2)])
    out = rec.feed(update(candle(T0 + 6 * M, price=106)), now=T0 + 6 * M)
    assert out.backfills == [BackfillRequest("bitfinex", "BTC/USD", T0 + 3 * M, T0 + 5 * M)]
    # More updates and later minutes do not ask again.
    rec.feed_all([update(candle(T0 + 6 * M, price=106, volume=2)), update(candle(T0 + 7 * M, price=107))])
    rec.clock(T0 + 12 * M)
    assert len(rec.requests) == 1
    # Minutes 0-2 and 6-7 closed, but no 5m bucket may close while minutes 3-5 can still arrive.
    assert [c.candle.time for c in rec.published(Timeframe.M1)] == [
        T0,
        T0 + M,
        T0 + 2 * M,
        T0 + 6 * M,
        T0 + 7 * M,
    ]
    assert rec.published(Timeframe.M5) == []


def test_backfill_fills_the_gap_and_then_rollups_close() -> None:
    rec = patient()
    rec.feed_all([update(c) for c in minutes_at(0, 1, 2, 6, 7)], now=T0 + 7 * M)
    [request] = rec.requests
    rec.clock(T0 + 10 * M)
    history = minutes_at(3, 5)  # minute 4 had no trades
    out = rec.feed_all([update(c, UpdateSource.BACKFILL) for c in history])
    assert [(c.candle.time, c.reason) for c in out.closed] == [
        (T0 + 3 * M, CloseReason.BACKFILL),
        (T0 + 5 * M, CloseReason.BACKFILL),
    ]
    done = rec.backfill_done(request)
    assert [(c.timeframe, c.candle.time) for c in done.closed] == [("5m", T0)]
    assert [(c.timeframe, c.candle.time) for c in rec.clock(T0 + 10 * M + GRACE).closed] == [
        ("5m", T0 + 5 * M)
    ]
    everything = minutes_at(0, 1, 2, 3, 5, 6, 7)
    assert_same_series(rec.series(Timeframe.M5), reference(everything, Timeframe.M5), "5m")
    assert rec.pipeline.outstanding_backfills(MARKET) == 0


def test_unanswered_backfill_times_out_and_a_late_answer_corrects() -> None:
    config = PipelineConfig(backfill_timeout_ms=30_000)
    rec = Recorder(CandlePipeline(config))
    rec.feed_all([update(c) for c in minutes_at(0, 1, 2, 6)], now=T0 + 6 * M + 1_000)
    [request] = rec.requests
    assert rec.clock(T0 + 6 * M + 30_999).closed == []
    out = rec.clock(T0 + 6 * M + 31_000)
    assert out.expired_backfills == [request]
    assert [(c.timeframe, c.candle.time) for c in out.closed] == [("5m", T0)]
    late = rec.feed(update(candle(T0 + 3 * M, price=103), UpdateSource.BACKFILL))
    assert [(c.timeframe, c.reason) for c in late.closed] == [("1m", CloseReason.BACKFILL)]
    assert [c.timeframe for c in late.corrections] == ["5m"]
    assert rec.backfill_done(request).closed == []  # no longer outstanding: nothing changes
    assert_same_series(rec.series(Timeframe.M5), reference(minutes_at(0, 1, 2, 3), Timeframe.M5), "5m")


def test_backfill_never_recloses_closed_minutes() -> None:
    rec = Recorder()
    rec.feed_all([update(c) for c in minutes_at(0, 1, 2)])
    same = rec.feed_all([update(c, UpdateSource.BACKFILL) for c in minutes_at(0, 1)])
    assert not same
    more = rec.feed(update(candle(T0, price=100, volume=3), UpdateSource.BACKFILL))
    assert more.closed == [] and [c.candle.volume for c in more.corrections] == [3]


def test_daily_rollup_closes_across_midnight_utc() -> None:
    rec = Recorder()
    day_end = T0 + Timeframe.D1.ms
    rec.feed(update(candle(day_end - 2 * M)), now=day_end - M)
    [startup] = rec.requests
    assert (startup.since_ms, startup.until_ms) == (T0, day_end - 3 * M)
    history = [candle(T0 + i * 97 * M, price=100 + i, volume=i + 1) for i in range(14)]
    rec.feed_all([update(c, UpdateSource.BACKFILL) for c in history])
    rec.backfill_done(startup)
    rec.feed(update(candle(day_end - M, price=90)), now=day_end - 1)
    assert rec.published(Timeframe.D1) == []
    out = rec.feed(update(candle(day_end, price=95)), now=day_end + 2_000)
    [daily] = [c for c in out.closed if c.timeframe == "1d"]
    day = [*history, candle(day_end - 2 * M), candle(day_end - M, price=90)]
    assert_same_series({daily.candle.time: daily.candle}, reference(day, Timeframe.D1), "1d")
    assert sorted(c.timeframe for c in out.closed) == sorted(["1m", "5m", "15m", "30m", "1h", "4h", "1d"])


def test_startup_backfill_makes_the_first_rollups_whole() -> None:
    rec = patient()
    rec.feed(update(candle(T0 + 62 * M)), now=T0 + 62 * M)
    assert [(r.since_ms, r.until_ms) for r in rec.requests] == [(T0, T0 + 61 * M)]
    rec.feed(update(candle(T0 + 63 * M)))
    rec.clock(T0 + 70 * M)
    assert rec.published(Timeframe.M5) == []  # waiting for the day's earlier minutes
    earlier = [candle(T0 + i * M, price=90 + i % 7) for i in range(58, 62)]
    rec.feed_all([update(c, UpdateSource.BACKFILL) for c in earlier])
    rec.backfill_done(rec.requests[0])
    rec.clock(T0 + 70 * M)
    day = [*earlier, candle(T0 + 62 * M), candle(T0 + 63 * M)]
    assert_same_series(rec.series(Timeframe.M5), reference(day, Timeframe.M5), "5m")
    first_hour = reference([c for c in day if c.time < T0 + 60 * M], Timeframe.H1)
    assert_same_series(rec.series(Timeframe.H1), first_hour, "1h")  # 01:00-02:00 is still open


def test_without_startup_backfill_partial_first_buckets_are_never_published() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    rec.feed_all([update(c) for c in minutes_at(3, 4, 5, 6)])
    rec.clock(T0 + 20 * M)
    assert rec.requests == []
    assert [c.candle.time for c in rec.published(Timeframe.M5)] == [T0 + 5 * M]
    assert rec.published(Timeframe.M15) == []  # 00:00-00:15 started before the first candle


def test_markets_are_independent() -> None:
    other = Market("bitfinex", "ETH/USD")
    rec = Recorder()
    rec.feed(update(candle(T0), market=other))
    rec.feed(update(candle(T0 + 3 * M), market=MARKET))
    assert [(r.symbol, r.since_ms) for r in rec.requests] == [("BTC/USD", T0)]
    out = rec.feed(update(candle(T0 + M), market=other))
    assert [(c.symbol, c.candle.time) for c in out.closed] == [("ETH/USD", T0)]
    assert rec.pipeline.forming(MARKET) == candle(T0 + 3 * M)
    assert sorted(m.symbol for m in rec.pipeline.markets) == ["BTC/USD", "ETH/USD"]


def test_state_per_market_stays_bounded() -> None:
    rec = Recorder(CandlePipeline(PipelineConfig(startup_backfill=False)))
    for i in range(3 * 1440):
        now = T0 + i * M + 1_000
        rec.feed(update(candle(T0 + i * M, price=100 + i % 13)), now=now)
        if i % 10 == 0:
            rec.clock(now)
        assert rec.pipeline.retained_minutes(MARKET) <= 1440 + 60 + 10
    assert len(rec.published(Timeframe.D1)) == 2


def test_update_not_on_a_minute_is_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidUpdate, match=r"bitfinex:BTC/USD: candle time .* not the start of a minute"):
        CandlePipeline().on_update(update(candle(T0 + 1_500)), now_ms=T0)


def test_candle_far_ahead_of_the_clock_is_refused() -> None:
    pipeline = CandlePipeline()
    with pytest.raises(
        InvalidUpdate, match=r"bitfinex:BTC/USD: candle time 2023-11-15T00:10:00Z is 10 minutes ahead"
    ):
        pipeline.on_update(update(candle(T0 + 10 * M)), now_ms=T0)
    assert pipeline.markets == []
    pipeline.on_update(update(candle(T0 + 5 * M)), now_ms=T0)  # within max_future_ms (clock skew)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grace_ms": -1}, "grace_ms"),
        ({"backfill_timeout_ms": 0}, "backfill_timeout_ms"),
        ({"retention_ms": -5}, "retention_ms"),
        ({"max_future_ms": -1}, "max_future_ms"),
        ({"rollup_timeframes": (Timeframe.M1,)}, "cannot include 1m"),
        ({"rollup_timeframes": (Timeframe.M5, Timeframe.M5)}, "twice"),
    ],
)
def test_config_errors_name_the_setting(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**kwargs)
