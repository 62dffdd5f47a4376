"""One market's candles of one larger timeframe, built from its closed 1-minute candles.

A bucket is the UTC-aligned period of one rollup candle. Buckets close in order; the caller
decides how far closing may go (how far the minutes are settled, and whether a backfill that can
still fill a bucket is outstanding). A bucket that closed with no minute was not published: if
minutes for it arrive later (a backfill), it opens again and is published once, whole. The
candle of a bucket is computed from the minutes it holds exactly as
`tradewinds.domain.resample.resample_candles` does.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

from tradewinds.domain.candles import Candle
from tradewinds.domain.timeframes import Timeframe


class MinuteFit(enum.Enum):
    """Where a closed (or corrected) minute falls for a rollup series."""

    OPEN = "open"  # in a bucket not closed yet: it will be part of the bucket when it closes
    CLOSED = "closed"  # in a bucket already closed: its stored candle needs a correction
    OUTSIDE = "outside"  # before the first bucket the pipeline saw whole: never published


class RollupSeries:
    """Which buckets of one timeframe are open, and which have closed."""

    def __init__(self, timeframe: Timeframe, origin_ms: int) -> None:
        self.timeframe = timeframe
        # The first bucket that starts at or after the origin: earlier ones are partial.
        self.first_bucket_ms = -(-origin_ms // timeframe.ms) * timeframe.ms
        # Buckets starting before the watermark are closed.
        self.watermark_ms = self.first_bucket_ms
        self._pending: set[int] = set()  # open buckets holding at least one closed minute
        self._skipped: set[int] = set()  # closed with no minute (not published), still in reach
        self._reopened: set[int] = set()  # skipped buckets that got minutes: open below the watermark
        self._floor_ms = 0

    def add_minute(self, time_ms: int) -> MinuteFit:
        bucket = self.timeframe.bucket_start(time_ms)
        if bucket < self.first_bucket_ms:
            return MinuteFit.OUTSIDE
        if bucket in self._skipped:
            # Closed while it held no minute, so never published: it opens again and is published
            # (once) when its minutes are settled, instead of being stored as a correction.
            self._skipped.discard(bucket)
            self._reopened.add(bucket)
            self._pending.add(bucket)
            return MinuteFit.OPEN
        if bucket < self.watermark_ms:
            return MinuteFit.CLOSED
        self._pending.add(bucket)
        return MinuteFit.OPEN

    def close_before(self, limit_ms: int) -> list[int]:
        """Close every bucket starting before `limit_ms`; return those holding minutes, ascending.
        Buckets closed empty are remembered (see `add_minute`) until `forget_before`."""
        if limit_ms <= self.watermark_ms:  # the common case: only reopened buckets can close
            if not self._reopened:
                return []
            ready = sorted(b for b in self._reopened if b < limit_ms)
        else:
            ready = sorted(b for b in self._pending if b < limit_ms)
            held = set(ready)
            tf = self.timeframe.ms
            self._skipped.update(b for b in range(self.watermark_ms, limit_ms, tf) if b not in held)
            self.watermark_ms = limit_ms
        self._pending.difference_update(ready)
        self._reopened.difference_update(ready)
        return ready

    def forget_before(self, floor_ms: int) -> None:
        """Minutes before `floor_ms` can no longer arrive: stop remembering empty buckets there."""
        if floor_ms <= self._floor_ms:
            return
        self._floor_ms = floor_ms
        tf = self.timeframe.ms
        self._skipped = {b for b in self._skipped if b + tf > floor_ms}

    @property
    def open_buckets(self) -> int:
        return len(self._pending)


def rollup_candle(minutes: Sequence[Candle], timeframe: Timeframe) -> Candle:
    """The candle of one bucket from its minutes (ascending, at least one).

    Open of the first, highest high, lowest low, close of the last, summed volume. The volume is
    summed with `math.fsum` (correctly rounded, so it does not depend on the order minutes arrive).
    """
    if not minutes:
        raise ValueError("a rollup candle needs at least one minute")
    first, last = minutes[0], minutes[-1]
    return Candle(
        time=timeframe.bucket_start(first.time),
        open=first.open,
        high=max(c.high for c in minutes),
        low=min(c.low for c in minutes),
        close=last.close,
        volume=math.fsum(c.volume for c in minutes),
    )
