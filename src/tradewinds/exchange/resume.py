"""How a 1-minute candle stream resumes after an interruption without losing a closed candle.

While a stream is down, minutes close unseen. When the market's channel is back, its snapshot
(the venue's newest candles) is compared with the newest minute the stream had delivered: the
minutes from that one up to the last minute the clock says is over are the gap. They are taken
from the snapshot when it reaches back far enough, otherwise fetched over REST; either way they
are delivered as BACKFILL before anything newer, so consumers see closed candles in order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from tradewinds.domain.candles import Candle
from tradewinds.domain.timeframes import MINUTE_MS


def wall_clock_ms() -> int:
    """Now, in UTC epoch milliseconds (streams take a clock so tests can drive time)."""
    return int(time.time() * 1000)


def last_closed_minute(now_ms: int, grace_ms: int = 0) -> int:
    """Open time of the newest minute that ended at least `grace_ms` before `now_ms`."""
    return (now_ms - grace_ms) // MINUTE_MS * MINUTE_MS - MINUTE_MS


@dataclass(frozen=True)
class ResumePlan:
    """What to deliver for one market after (re)subscribing, in this order."""

    closed: list[Candle]  # gap minutes found in the snapshot: deliver as BACKFILL
    fetch: tuple[int, int] | None  # gap [since_ms, until_ms] to fetch over REST and deliver as BACKFILL
    current: list[Candle]  # snapshot candles newer than the gap: deliver as SNAPSHOT


def plan_resume(
    last_seen_ms: int | None,
    snapshot: Sequence[Candle],
    now_ms: int,
    grace_ms: int = 0,
    trust_snapshot: bool = True,
) -> ResumePlan:
    """Plan the catch-up for one market.

    `last_seen_ms` is the open time of the newest candle delivered before the interruption (None
    on the first subscription: then only the newest snapshot candle is news). `snapshot` is
    ascending. With `trust_snapshot` False (a client library's cache may hold stale candles) the
    gap is always fetched over REST.
    """
    ordered = sorted(snapshot, key=lambda c: c.time)
    if last_seen_ms is None:
        return ResumePlan(closed=[], fetch=None, current=ordered[-1:])
    until = last_closed_minute(now_ms, grace_ms)
    current = [c for c in ordered if c.time > until]
    # The newest minute seen may have been forming when the stream broke: it belongs to the gap.
    since = last_seen_ms
    if since > until:
        return ResumePlan(closed=[], fetch=None, current=current)
    if trust_snapshot and ordered and ordered[0].time <= since:
        # The snapshot reaches back to the last minute seen, so it holds every gap candle that exists.
        closed = [c for c in ordered if since <= c.time <= until]
        return ResumePlan(closed=closed, fetch=None, current=current)
    return ResumePlan(closed=[], fetch=(since, until), current=current)
