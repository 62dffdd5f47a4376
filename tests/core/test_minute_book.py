"""MinuteBook: versions ordered by volume, the forming candle, closes and gaps of one market."""

from __future__ import annotations

import pytest

from tests.core.harness import T0, candle
from tradewinds.core.minute_book import Gap, MinuteBook, Verdict
from tradewinds.domain.messages import CloseReason, UpdateSource

M = 60_000
LIVE, SNAPSHOT, BACKFILL = UpdateSource.LIVE, UpdateSource.SNAPSHOT, UpdateSource.BACKFILL


def test_versions_of_the_forming_minute_are_ordered_by_volume_not_arrival() -> None:
    book = MinuteBook(T0)
    v1, v2, v3 = candle(T0, volume=1), candle(T0, volume=2), candle(T0, volume=3)
    assert book.apply(v2, LIVE).verdict is Verdict.NEW
    assert book.apply(v1, LIVE).verdict is Verdict.STALE
    assert book.apply(v3, LIVE).verdict is Verdict.UPDATED
    assert book.apply(v3, SNAPSHOT).verdict is Verdict.DUPLICATE
    assert book.apply(v2, LIVE).verdict is Verdict.STALE
    assert book.forming == v3
    assert len(book) == 0  # nothing closed


def test_same_volume_but_different_values_is_stale_unless_from_history() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0, price=100, volume=2), LIVE)
    assert book.apply(candle(T0, price=101, volume=2), LIVE).verdict is Verdict.STALE
    book.apply(candle(T0 + M, volume=1), LIVE)  # closes T0
    fix = book.apply(candle(T0, price=101, volume=2), BACKFILL)
    assert fix.verdict is Verdict.UPDATED and fix.correction == candle(T0, price=101, volume=2)


def test_a_later_minute_closes_the_forming_one() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0, volume=5), LIVE)
    change = book.apply(candle(T0 + M, volume=1), LIVE)
    assert [(c.candle.time, c.reason) for c in change.closes] == [(T0, CloseReason.NEXT_CANDLE)]
    assert book.forming == candle(T0 + M, volume=1)
    assert book.settled_until() == T0 + M


def test_closed_minute_revisions_are_corrections_duplicates_or_stale() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0, volume=5), LIVE)
    book.apply(candle(T0 + M, volume=1), LIVE)
    assert book.apply(candle(T0, volume=5), LIVE).verdict is Verdict.DUPLICATE
    assert book.apply(candle(T0, volume=5), BACKFILL).verdict is Verdict.DUPLICATE
    assert book.apply(candle(T0, volume=4), BACKFILL).verdict is Verdict.STALE
    later = book.apply(candle(T0, volume=6), LIVE)
    assert later.verdict is Verdict.UPDATED and later.correction == candle(T0, volume=6) and not later.closes
    assert book.closed_candle(T0) == candle(T0, volume=6)


def test_timeout_needs_the_minute_and_the_grace_time() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0), LIVE)
    assert book.expire(T0 + M + 4_999, grace_ms=5_000) is None
    closed = book.expire(T0 + M + 5_000, grace_ms=5_000)
    assert closed is not None and closed.reason is CloseReason.TIMEOUT
    assert book.forming is None and book.settled_until() == T0 + M
    assert book.expire(T0 + 10 * M, grace_ms=5_000) is None


def test_gap_is_reported_when_a_later_minute_jumps_over_missing_ones() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0), LIVE)
    change = book.apply(candle(T0 + 4 * M), LIVE)
    assert change.gap == Gap(T0 + M, T0 + 3 * M)
    # The same jump is never reported again; minutes filling it are late closes.
    assert book.apply(candle(T0 + 4 * M, volume=2), LIVE).gap is None
    late = book.apply(candle(T0 + 2 * M), LIVE)
    assert late.gap is None and [c.reason for c in late.closes] == [CloseReason.NEXT_CANDLE]


def test_first_candle_after_the_origin_reports_the_minutes_before_it() -> None:
    book = MinuteBook(T0)
    assert book.apply(candle(T0 + 3 * M), SNAPSHOT).gap == Gap(T0, T0 + 2 * M)
    assert MinuteBook(T0).apply(candle(T0), LIVE).gap is None


def test_history_closes_at_once_and_its_holes_are_not_gaps() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0), LIVE)
    change = book.apply(candle(T0 + 3 * M), BACKFILL)
    assert change.gap is None
    assert [(c.candle.time, c.reason) for c in change.closes] == [
        (T0, CloseReason.NEXT_CANDLE),
        (T0 + 3 * M, CloseReason.BACKFILL),
    ]
    assert book.forming is None and book.settled_until() == T0 + 4 * M


def test_history_for_the_forming_minute_closes_it_with_the_larger_version() -> None:
    book = MinuteBook(T0)
    book.apply(candle(T0, volume=5), LIVE)
    change = book.apply(candle(T0, volume=3), BACKFILL)
    assert [(c.candle, c.reason) for c in change.closes] == [(candle(T0, volume=5), CloseReason.BACKFILL)]
    assert book.forming is None


def test_forgotten_minutes_are_too_old_and_the_floor_never_moves_back() -> None:
    book = MinuteBook(T0)
    for i in range(5):
        book.apply(candle(T0 + i * M), LIVE)
    book.forget_before(T0 + 2 * M)
    assert len(book) == 2  # minutes 2 and 3 (4 is forming)
    assert book.apply(candle(T0 + M, volume=9), LIVE).verdict is Verdict.TOO_OLD
    book.forget_before(T0)
    assert book.floor_ms == T0 + 2 * M
    assert [c.time for c in book.minutes(T0, T0 + 10 * M)] == [T0 + 2 * M, T0 + 3 * M]


def test_origin_must_be_a_minute() -> None:
    with pytest.raises(ValueError, match="not the start of a minute"):
        MinuteBook(T0 + 1)
