"""What the candle pipeline is configured with and what it hands back: settings, outputs (closes
to store and publish, corrections to store, backfills to ask for), counters, restart hints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import BackfillRequest, ClosedCandle
from tradewinds.domain.timeframes import MINUTE_MS, ROLLUP_TIMEFRAMES, Timeframe

DAY_MS = Timeframe.D1.ms


class InvalidUpdate(ValueError):
    """A candle update the pipeline cannot take; the message names the market and the problem."""


class CandleCorrection(msgspec.Struct, frozen=True):
    """A candle whose period was already closed that changed: store it, do not publish it as a close."""

    exchange: str
    symbol: str
    timeframe: str
    candle: Candle


@dataclass(frozen=True)
class PipelineConfig:
    grace_ms: int = 5_000  # how long after a minute ends a late update is still waited for
    backfill_timeout_ms: int = 60_000  # rollups wait at most this long for a backfill answer
    # Closed minutes are kept at least this long behind the newest one, to recognise late re-sends
    # (e.g. a snapshot after a reconnect) as duplicates or corrections.
    retention_ms: int = 60 * MINUTE_MS
    rollup_timeframes: tuple[Timeframe, ...] = ROLLUP_TIMEFRAMES
    # On a market's first candle, ask for the earlier minutes of its longest rollup period, so
    # that the first rollups are whole rather than partial.
    startup_backfill: bool = True
    # Candles opening later than this after the clock are refused: one would pin the forming
    # candle in the future and turn everything until then into a gap to backfill.
    max_future_ms: int = 5 * MINUTE_MS
    # How long after a minute ends the venue may still report a trade of it: a liveness report
    # closes the minute once it covers that much past the minute's end.
    alive_settle_ms: int = 1_000
    # After a restart a market fills back to its last stored minute, but never further than this.
    max_fill_back_ms: int = 2 * DAY_MS
    # Candles stored before a restart are published again within this (the CANDLES stream drops
    # a repeat within its duplicate window, a day and an hour); older ones are only stored.
    republish_window_ms: int = DAY_MS

    def __post_init__(self) -> None:
        if self.grace_ms < 0:
            raise ValueError(f"grace_ms must not be negative, got {self.grace_ms}")
        if self.backfill_timeout_ms <= 0:
            raise ValueError(f"backfill_timeout_ms must be positive, got {self.backfill_timeout_ms}")
        if self.max_future_ms < 0:
            raise ValueError(f"max_future_ms must not be negative, got {self.max_future_ms}")
        if self.retention_ms < 0:
            raise ValueError(f"retention_ms must not be negative, got {self.retention_ms}")
        if self.alive_settle_ms < 0:
            raise ValueError(f"alive_settle_ms must not be negative, got {self.alive_settle_ms}")
        if self.max_fill_back_ms <= 0:
            raise ValueError(f"max_fill_back_ms must be positive, got {self.max_fill_back_ms}")
        if Timeframe.M1 in self.rollup_timeframes:
            raise ValueError("rollup_timeframes cannot include 1m: it is the input timeframe")
        if len(set(self.rollup_timeframes)) != len(self.rollup_timeframes):
            raise ValueError("rollup_timeframes lists a timeframe twice")

    @property
    def span_ms(self) -> int:
        """A period every rollup bucket fits in whole (their least common multiple)."""
        return math.lcm(MINUTE_MS, *(tf.ms for tf in self.rollup_timeframes))


@dataclass
class PipelineOutput:
    closed: list[ClosedCandle] = field(default_factory=list)  # store, then publish
    corrections: list[CandleCorrection] = field(default_factory=list)  # store only
    backfills: list[BackfillRequest] = field(default_factory=list)  # send to the adapter
    expired_backfills: list[BackfillRequest] = field(default_factory=list)  # no answer in time
    notices: list[str] = field(default_factory=list)  # for the log

    def __bool__(self) -> bool:
        return bool(self.closed or self.corrections or self.backfills or self.expired_backfills)

    def extend(self, other: PipelineOutput) -> None:
        self.closed.extend(other.closed)
        self.corrections.extend(other.corrections)
        self.backfills.extend(other.backfills)
        self.expired_backfills.extend(other.expired_backfills)
        self.notices.extend(other.notices)


@dataclass
class PipelineStats:
    """Running totals, for status lines."""

    updates: int = 0
    duplicates: int = 0
    stale: int = 0
    too_old: int = 0
    minute_closes: int = 0
    rollup_closes: int = 0
    corrections: int = 0
    backfills_requested: int = 0
    backfills_expired: int = 0


@dataclass(frozen=True)
class StoredUntil:
    """What the store held for one market when the core started: open times of the newest stored
    1-minute candle and of the newest stored candle of each rollup timeframe."""

    minute_ms: int
    rollups: Mapping[Timeframe, int] = field(default_factory=dict)
