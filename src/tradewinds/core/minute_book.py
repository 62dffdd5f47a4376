"""One market's 1-minute candles: dedupe versions, keep the forming candle apart, close, find gaps.

Exchanges re-send the forming candle on every trade and give no "closed" flag. Trades only add
volume, so the versions of one minute are ordered by volume: a version with no more volume than
the one we hold is stale (or a duplicate), whatever order the messages arrived in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CloseReason, UpdateSource
from tradewinds.domain.timeframes import MINUTE_MS


class Verdict(enum.Enum):
    """What one update did to the book."""

    NEW = "new"  # a minute the book had not seen
    UPDATED = "updated"  # a newer version of a known minute
    DUPLICATE = "duplicate"  # identical to what the book holds
    STALE = "stale"  # an older version (no more volume) of a known minute
    TOO_OLD = "too_old"  # before the retained window; ignored so it cannot overwrite settled data


@dataclass(frozen=True, slots=True)
class MinuteClose:
    candle: Candle
    reason: CloseReason


@dataclass(frozen=True, slots=True)
class Gap:
    """Minutes (open times, both inclusive) for which no candle arrived although a later one did."""

    since_ms: int
    until_ms: int


@dataclass(slots=True)
class BookChange:
    verdict: Verdict
    closes: list[MinuteClose] = field(default_factory=list)
    correction: Candle | None = None  # a closed minute that changed
    gap: Gap | None = None


class MinuteBook:
    """The 1-minute candles of one market from `origin_ms` on.

    Invariant: the forming candle (if any) is later than every closed one, so "a later candle
    arrived" means "every earlier minute is over".
    """

    def __init__(self, origin_ms: int) -> None:
        if origin_ms % MINUTE_MS:
            raise ValueError(f"origin {origin_ms} is not the start of a minute")
        self._floor = origin_ms
        self._closed: dict[int, Candle] = {}
        self._forming: Candle | None = None
        # Open time of the latest minute known (forming or closed). Starting one minute before the
        # origin makes a first candle after the origin report the minutes before it as a gap.
        self._latest = origin_ms - MINUTE_MS

    @property
    def forming(self) -> Candle | None:
        return self._forming

    @property
    def latest_ms(self) -> int:
        return self._latest

    @property
    def floor_ms(self) -> int:
        """Minutes before this are forgotten; updates for them are ignored."""
        return self._floor

    def __len__(self) -> int:
        return len(self._closed)

    def closed_candle(self, time_ms: int) -> Candle | None:
        return self._closed.get(time_ms)

    def settled_until(self) -> int:
        """Every minute before this is closed or known to be missing (the clock aside)."""
        if self._forming is not None:
            return self._forming.time
        return self._latest + MINUTE_MS

    def apply(self, candle: Candle, source: UpdateSource) -> BookChange:
        time = candle.time
        if time < self._floor:
            return BookChange(Verdict.TOO_OLD)
        known = self._closed.get(time)
        if known is not None:
            return self._revise_closed(known, candle, source)
        forming = self._forming
        if forming is not None and time == forming.time:
            return self._revise_forming(forming, candle, source)
        if time > self._latest:
            return self._advance(candle, source)
        # A minute never seen, earlier than one that was: it is over, so it closes on arrival.
        reason = CloseReason.BACKFILL if source is UpdateSource.BACKFILL else CloseReason.NEXT_CANDLE
        return BookChange(Verdict.NEW, closes=[self._close(candle, reason)])

    def expire(self, now_ms: int, grace_ms: int) -> MinuteClose | None:
        """Close the forming candle if its minute and the grace time have passed."""
        forming = self._forming
        if forming is None or now_ms < forming.time + MINUTE_MS + grace_ms:
            return None
        self._forming = None
        return self._close(forming, CloseReason.TIMEOUT)

    def set_aside_forming(self) -> Candle | None:
        """Take the forming candle out, unclosed, as if it had never arrived: the next later candle
        then reports its minute as part of a gap. For a forming candle that may be stale."""
        forming = self._forming
        if forming is not None:
            self._forming = None
            self._latest = forming.time - MINUTE_MS  # every closed minute is earlier (the invariant)
        return forming

    def minutes(self, since_ms: int, until_ms: int) -> list[Candle]:
        """Closed candles with since_ms <= time < until_ms, ascending."""
        start = max(since_ms, self._floor)
        start += -start % MINUTE_MS
        found = (self._closed.get(t) for t in range(start, until_ms, MINUTE_MS))
        return [c for c in found if c is not None]

    def forget_before(self, floor_ms: int) -> None:
        """Drop closed minutes before `floor_ms` (never moves back); later updates for them are too old."""
        if floor_ms <= self._floor:
            return
        self._floor = floor_ms
        for time in [t for t in self._closed if t < floor_ms]:
            del self._closed[time]

    def _revise_closed(self, known: Candle, candle: Candle, source: UpdateSource) -> BookChange:
        if candle == known:
            return BookChange(Verdict.DUPLICATE)
        if not _is_newer(candle, known, source):
            return BookChange(Verdict.STALE)
        self._closed[candle.time] = candle
        return BookChange(Verdict.UPDATED, correction=candle)

    def _revise_forming(self, forming: Candle, candle: Candle, source: UpdateSource) -> BookChange:
        newer = _is_newer(candle, forming, source)
        if source is UpdateSource.BACKFILL:
            # History says the minute is over: close it with the best version we have.
            self._forming = None
            best = candle if newer else forming
            verdict = Verdict.UPDATED if newer else Verdict.DUPLICATE if candle == forming else Verdict.STALE
            return BookChange(verdict, closes=[self._close(best, CloseReason.BACKFILL)])
        if candle == forming:
            return BookChange(Verdict.DUPLICATE)
        if not newer:
            return BookChange(Verdict.STALE)
        self._forming = candle
        return BookChange(Verdict.UPDATED)

    def _advance(self, candle: Candle, source: UpdateSource) -> BookChange:
        change = BookChange(Verdict.NEW)
        if self._forming is not None:
            change.closes.append(self._close(self._forming, CloseReason.NEXT_CANDLE))
            self._forming = None
        # A backfill answer has no candle for minutes without trades, so its holes are not gaps.
        if source is not UpdateSource.BACKFILL and candle.time - self._latest > MINUTE_MS:
            change.gap = Gap(self._latest + MINUTE_MS, candle.time - MINUTE_MS)
        self._latest = candle.time
        if source is UpdateSource.BACKFILL:
            change.closes.append(self._close(candle, CloseReason.BACKFILL))
        else:
            self._forming = candle
        return change

    def _close(self, candle: Candle, reason: CloseReason) -> MinuteClose:
        self._closed[candle.time] = candle
        return MinuteClose(candle, reason)


def _is_newer(candle: Candle, known: Candle, source: UpdateSource) -> bool:
    """Whether `candle` supersedes `known` (same minute): more volume, or history breaking a tie."""
    if candle.volume != known.volume:
        return candle.volume > known.volume
    return source is UpdateSource.BACKFILL and candle != known
