"""The candle pipeline: 1-minute candle updates of many markets in; closed candles, corrections and
backfill requests out. Pure logic: the caller supplies the clock and does all I/O.

- A 1-minute candle closes when a later candle of its market arrives (NEXT_CANDLE), when it is
  known to be over (TIMEOUT, see `on_clock`), or when it comes from history (BACKFILL).
- Known to be over: on an exchange whose adapter reports liveness (`on_alive`: everything the
  venue sent for a market before a time has arrived), once a report for the market covers the
  minute's end plus `alive_settle_ms`; while none comes (an outage) its minutes and rollups wait,
  for the adapter's backfill or the next candle. On an exchange that never sent a report
  (adapters that cannot ping), once the minute plus the grace time is over.
- Minutes missing before a later candle are a gap: one backfill request per gap.
- Rollups (5m ... 1d) close in order once their minutes are settled, but not while an outstanding
  backfill may still fill them (until it is answered or times out).
- A closed candle that changes later is a correction: to be stored, not published as a close. A
  rollup bucket that closed empty (never published) and gets minutes later is published then.
- After a restart (`resume_from`), a market fills back to what was stored for it, so the rollups
  the restart spans are completed; candles stored before it are published again only within the
  bus's duplicate window (where a repeat is dropped), older ones are stored only.
- The clock that closes a market's candles is its exchange's: updates say when the adapter
  received them (`received_ms`), and an adapter whose clock is behind ours (a simulator replaying
  the recent past, a skewed host) is given that lag, so its minutes are not closed before they
  could have arrived. An adapter ahead of us gains nothing: we never close earlier than our clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradewinds.core.backfills import BackfillTracker, PendingBackfill
from tradewinds.core.minute_book import Gap, MinuteBook, MinuteClose, Verdict
from tradewinds.core.pipeline_types import (
    CandleCorrection,
    InvalidUpdate,
    PipelineConfig,
    PipelineOutput,
    PipelineStats,
    StoredUntil,
)
from tradewinds.core.rollup import MinuteFit, RollupSeries, rollup_candle
from tradewinds.domain.candles import Candle, Market
from tradewinds.domain.messages import (
    BackfillRequest,
    CandleUpdate,
    ClosedCandle,
    CloseReason,
    StreamAlive,
    UpdateSource,
)
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.times import format_time_ms

__all__ = [
    "CandleCorrection",
    "CandlePipeline",
    "InvalidUpdate",
    "PipelineConfig",
    "PipelineOutput",
    "PipelineStats",
    "StoredUntil",
]


@dataclass
class _MarketState:
    market: Market
    book: MinuteBook
    rollups: list[RollupSeries]
    backfills: BackfillTracker
    # Candles with open times up to these were stored (and published) before a restart: closed
    # again, they are published only from `republish_from_ms` on (the bus drops those repeats).
    stored: StoredUntil | None = None
    republish_from_ms: int = 0
    # Forming candles a fresh subscription overtook before any report covered their end: their
    # minutes are backfilled; if history has nothing for one, it closes as last seen.
    set_aside: dict[int, Candle] = field(default_factory=dict)


_VERDICT_COUNTERS = {Verdict.DUPLICATE: "duplicates", Verdict.STALE: "stale", Verdict.TOO_OLD: "too_old"}


class CandlePipeline:
    """Turns the 1-minute candle updates of many markets into closed candles of every timeframe."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self.stats = PipelineStats()
        self._span_ms = self.config.span_ms
        self._markets: dict[Market, _MarketState] = {}
        self._exchange_lag_ms: dict[str, int] = {}  # how far each exchange's clock is behind ours
        # Exchanges whose adapter reports liveness, and the time up to which each market's stream
        # is known complete (a market of such an exchange with no report yet: nothing is known).
        self._alive_exchanges: set[str] = set()
        self._alive_ms: dict[Market, int] = {}
        self._stored: dict[Market, StoredUntil] = {}  # restart hints, taken on a market's first update

    @property
    def markets(self) -> list[Market]:
        return list(self._markets)

    def forming(self, market: Market) -> Candle | None:
        """The candle of `market` still forming, if any (never published as closed)."""
        state = self._markets.get(market)
        return state.book.forming if state else None

    def outstanding_backfills(self, market: Market) -> int:
        state = self._markets.get(market)
        return len(state.backfills) if state else 0

    def retained_minutes(self, market: Market) -> int:
        """How many closed 1-minute candles the pipeline holds for `market` (bounded)."""
        state = self._markets.get(market)
        return len(state.book) if state else 0

    def on_update(self, update: CandleUpdate, now_ms: int) -> PipelineOutput:
        """Take one candle update. `now_ms` (the clock) dates backfill requests and bounds how far
        in the future a candle may open; closing by the clock happens only in `on_clock`."""
        time = update.candle.time
        if time % MINUTE_MS:
            raise InvalidUpdate(
                f"{update.exchange}:{update.symbol}: candle time {time} is not the start of a minute"
            )
        if time > now_ms + self.config.max_future_ms:
            raise InvalidUpdate(
                f"{update.exchange}:{update.symbol}: candle time {format_time_ms(time)} is "
                f"{(time - now_ms) / MINUTE_MS:.0f} minutes ahead of the clock ({format_time_ms(now_ms)})"
            )
        if update.received_ms > 0 and update.source is not UpdateSource.BACKFILL:  # history is no clock
            self._exchange_lag_ms[update.exchange] = max(0, now_ms - update.received_ms)
        market = Market(update.exchange, update.symbol)
        out = PipelineOutput()
        state = self._markets.get(market) or self._start_market(market, time, now_ms, out)
        if update.source is UpdateSource.SNAPSHOT and self._may_be_stale(state, time):
            # A new adapter (process) subscribed: the trades it never saw of our forming minute
            # are in history only, so that minute joins the gap the snapshot opens.
            stale = state.book.set_aside_forming()
            if stale is not None:
                state.set_aside[stale.time] = stale
        change = state.book.apply(update.candle, update.source)
        self.stats.updates += 1
        counter = _VERDICT_COUNTERS.get(change.verdict)
        if counter:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        if change.gap is not None:  # before the closes, so rollups already wait for it
            self._request_backfill(state, change.gap, now_ms, out)
        for close in change.closes:
            self._minute_closed(state, close, out)
        if change.correction is not None:
            self._minute_corrected(state, change.correction, out)
        self._close_rollups(state, state.book.settled_until(), out)
        return out

    def on_clock(self, now_ms: int) -> PipelineOutput:
        """Close what the clock closes (call about every second): forming candles past their minute
        plus the grace time, rollup buckets likewise; give up on backfills past their deadline."""
        out = PipelineOutput()
        for state in self._markets.values():
            for expired in state.backfills.expire(now_ms):
                self.stats.backfills_expired += 1
                out.expired_backfills.append(self._backfill_request(state.market, expired))
                self._settle_set_aside(state, expired.since_ms, expired.until_ms, out)
            self._close_by_time(state, now_ms, out)
            self._forget_settled(state)
        return out

    def on_alive(self, alive: StreamAlive, now_ms: int) -> PipelineOutput:
        """The adapter vouches that everything sent for `alive.symbols` before `alive.until_ms`
        has arrived (it was published before this report). From the first report on, those
        markets, and every market of that exchange, close by time only as far as reports reach."""
        out = PipelineOutput()
        known = min(alive.until_ms, now_ms) - self.config.alive_settle_ms  # never ahead of our clock
        self._alive_exchanges.add(alive.exchange)
        for symbol in alive.symbols:
            market = Market(alive.exchange, symbol)
            if known <= self._alive_ms.get(market, known - 1):
                continue
            self._alive_ms[market] = known
            state = self._markets.get(market)
            if state is not None:
                self._close_by_time(state, now_ms, out)
        return out

    def resume_from(self, market: Market, stored: StoredUntil) -> None:
        """Before any update: `market` had candles stored up to `stored` before this start, so its
        first update fills back to there (bounded by `max_fill_back_ms`) rather than the day."""
        if market not in self._markets:
            self._stored[market] = stored

    def _known_until(self, state: _MarketState, now_ms: int) -> int:
        """Every minute ending by this is over, as far as the market's stream can tell."""
        if state.market.exchange in self._alive_exchanges:
            return self._alive_ms.get(state.market, state.book.floor_ms)
        return now_ms - self._exchange_lag_ms.get(state.market.exchange, 0) - self.config.grace_ms

    def _close_by_time(self, state: _MarketState, now_ms: int, out: PipelineOutput) -> None:
        known = self._known_until(state, now_ms)
        close = state.book.expire(known, 0)
        if close is not None:
            self._minute_closed(state, close, out)
        self._close_rollups(state, max(state.book.settled_until(), known), out)

    def on_backfill_done(self, market: Market, since_ms: int, until_ms: int) -> PipelineOutput:
        """The adapter answered (or failed) the backfill of [since_ms, until_ms]: stop waiting for it.

        Call it after the backfilled candles were given to `on_update`.
        """
        out = PipelineOutput()
        state = self._markets.get(market)
        if state is not None and state.backfills.done(since_ms, until_ms):
            self._settle_set_aside(state, since_ms, until_ms, out)
            self._close_rollups(state, state.book.settled_until(), out)
        return out

    def _may_be_stale(self, state: _MarketState, time_ms: int) -> bool:
        """Whether the forming candle, overtaken by a candle at `time_ms`, may lack trades: its
        exchange reports liveness and no report covered its end."""
        forming = state.book.forming
        if forming is None or time_ms <= forming.time or state.market.exchange not in self._alive_exchanges:
            return False
        return self._alive_ms.get(state.market, forming.time) < forming.time + MINUTE_MS

    def _settle_set_aside(
        self, state: _MarketState, since_ms: int, until_ms: int, out: PipelineOutput
    ) -> None:
        """The backfill of [since_ms, until_ms] is over: a set-aside minute it did not bring closes
        as last seen (history may lag; what we saw is better than nothing)."""
        for time in [t for t in state.set_aside if since_ms <= t <= until_ms]:
            stale = state.set_aside.pop(time)
            if state.book.closed_candle(time) is None:
                for close in state.book.apply(stale, UpdateSource.LIVE).closes:
                    self._minute_closed(state, close, out)

    def _start_market(self, market: Market, first_ms: int, now_ms: int, out: PipelineOutput) -> _MarketState:
        origin = first_ms
        stored = self._stored.pop(market, None)
        if self.config.startup_backfill:
            origin -= first_ms % self._span_ms
            if stored is not None:
                origin = min(origin, self._fill_back_origin(market, stored, first_ms, out))
        state = _MarketState(
            market=market,
            book=MinuteBook(origin),
            rollups=[RollupSeries(tf, origin) for tf in self.config.rollup_timeframes],
            backfills=BackfillTracker(),
            stored=stored,
            republish_from_ms=now_ms - self.config.republish_window_ms,
        )
        self._markets[market] = state
        return state

    def _fill_back_origin(
        self, market: Market, stored: StoredUntil, first_ms: int, out: PipelineOutput
    ) -> int:
        """The span-aligned start from which every bucket holding an unstored minute is whole."""
        span = self._span_ms
        wanted = stored.minute_ms + MINUTE_MS
        wanted -= wanted % span
        bound = first_ms - self.config.max_fill_back_ms
        bound += -bound % span
        if wanted < bound:
            out.notices.append(
                f"{market.exchange}:{market.symbol} was last stored at {format_time_ms(stored.minute_ms)}; "
                f"filling back only from {format_time_ms(bound)} (at most "
                f"{self.config.max_fill_back_ms / 3_600_000:g} h): the minutes before are not backfilled"
            )
            return bound
        return wanted

    def _already_published(self, state: _MarketState, tf: Timeframe, time_ms: int) -> bool:
        """Stored before the restart and too old for the bus to drop a repeat: store only."""
        stored = state.stored
        if stored is None or time_ms >= state.republish_from_ms:
            return False
        newest = stored.minute_ms if tf is Timeframe.M1 else stored.rollups.get(tf)
        return newest is not None and time_ms <= newest

    def _request_backfill(self, state: _MarketState, gap: Gap, now_ms: int, out: PipelineOutput) -> None:
        deadline = now_ms + self.config.backfill_timeout_ms
        if state.backfills.request(gap.since_ms, gap.until_ms, deadline):
            self.stats.backfills_requested += 1
            out.backfills.append(
                BackfillRequest(state.market.exchange, state.market.symbol, gap.since_ms, gap.until_ms)
            )

    def _minute_closed(self, state: _MarketState, close: MinuteClose, out: PipelineOutput) -> None:
        market = state.market
        if self._already_published(state, Timeframe.M1, close.candle.time):
            out.corrections.append(CandleCorrection(market.exchange, market.symbol, "1m", close.candle))
        else:
            self.stats.minute_closes += 1
            out.closed.append(
                ClosedCandle(market.exchange, market.symbol, Timeframe.M1.label, close.candle, close.reason)
            )
        self._place_minute(state, close.candle.time, out)

    def _minute_corrected(self, state: _MarketState, candle: Candle, out: PipelineOutput) -> None:
        self._correct(state, Timeframe.M1, candle, out)
        self._place_minute(state, candle.time, out)

    def _place_minute(self, state: _MarketState, time_ms: int, out: PipelineOutput) -> None:
        """Add a closed or corrected minute to its rollup buckets; correct buckets already closed."""
        for series in state.rollups:
            if series.add_minute(time_ms) is MinuteFit.CLOSED:
                tf = series.timeframe
                start = tf.bucket_start(time_ms)
                self._correct(state, tf, rollup_candle(state.book.minutes(start, start + tf.ms), tf), out)

    def _correct(self, state: _MarketState, tf: Timeframe, candle: Candle, out: PipelineOutput) -> None:
        self.stats.corrections += 1
        market = state.market
        out.corrections.append(CandleCorrection(market.exchange, market.symbol, tf.label, candle))

    def _close_rollups(self, state: _MarketState, settled_ms: int, out: PipelineOutput) -> None:
        """Close the buckets that end by `settled_ms`, in order, stopping at the first one an
        outstanding backfill may still fill."""
        waiting_from = state.backfills.earliest_since()
        market = state.market
        for series in state.rollups:
            tf = series.timeframe
            limit = tf.bucket_start(settled_ms)
            if waiting_from is not None:
                limit = min(limit, tf.bucket_start(waiting_from))
            for start in series.close_before(limit):
                minutes = state.book.minutes(start, start + tf.ms)
                if not minutes:  # only if its minutes were forgotten, which the floor prevents
                    continue
                candle = rollup_candle(minutes, tf)
                if self._already_published(state, tf, start):
                    out.corrections.append(CandleCorrection(market.exchange, market.symbol, tf.label, candle))
                    continue
                self.stats.rollup_closes += 1
                out.closed.append(
                    ClosedCandle(market.exchange, market.symbol, tf.label, candle, CloseReason.ROLLUP)
                )

    def _forget_settled(self, state: _MarketState) -> None:
        """Drop minutes no open bucket, outstanding backfill or retention window needs. The floor is
        aligned to the span so every bucket is kept or forgotten whole."""
        keep_from = state.book.latest_ms - self.config.retention_ms
        for series in state.rollups:
            keep_from = min(keep_from, series.watermark_ms)
        waiting_from = state.backfills.earliest_since()
        if waiting_from is not None:
            keep_from = min(keep_from, waiting_from)
        floor = keep_from - keep_from % self._span_ms
        state.book.forget_before(floor)
        for series in state.rollups:
            series.forget_before(state.book.floor_ms)

    @staticmethod
    def _backfill_request(market: Market, pending: PendingBackfill) -> BackfillRequest:
        return BackfillRequest(market.exchange, market.symbol, pending.since_ms, pending.until_ms)
