"""Each paper slice's book kept between batches, so that a trade replays only the fills since.

A slice's book (what it holds, its cost, its P&L) is its recorded fills replayed. Reading and
replaying all of them at every trade costs what the history has grown to: an assignment that
changes position every minute records about 1,440 fills a day, and after a few weeks each trade
read tens of thousands of rows. The lane keeps the book it computed with how many fills it
replays and the newest fill's id, moves it on by each batch's own fills once they are committed,
and a batch reads only fills recorded after that id by someone else (the executor continuing a
redelivered intent, another process).

The kept book is trusted only when the records add up: the batch first counts each slice's fills
and reads the newest id, and the fills between the kept id and that one must be exactly the ones
it does not have yet. A fill committed late with a lower id (PostgreSQL hands ids out at insert,
not at commit), a changed allocation, or anything else that does not add up replays every fill
again. Only recorded fills go into a kept book, so a batch whose commit fails leaves it right.
This holds while one process at a time writes a slice's fills, as one adapter per exchange does:
two writers racing on one slice could, in theory, hide a late fill behind a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tradewinds.domain.ledger import LedgerFill, SliceBook, replay
from tradewinds.storage.orders import ledger_fill
from tradewinds.storage.trading_models import FillRow


@dataclass(frozen=True, slots=True)
class KeptBook:
    allocation: Decimal
    fills: int  # how many recorded fills it replays
    last_fill_id: int  # the newest of them
    book: SliceBook


@dataclass(slots=True)
class StoredFills:
    """One slice's recorded fills as a batch read them: the kept book they continue (None: from
    the allocation) and the fills after it, oldest first."""

    count: int  # fills recorded in all
    last_fill_id: int
    start: KeptBook | None = None
    after: list[LedgerFill] = field(default_factory=list)


class SliceBooks:
    def __init__(self) -> None:
        self._kept: dict[int, KeptBook] = {}

    async def read(self, session: AsyncSession, allocations: Mapping[int, Decimal]) -> dict[int, StoredFills]:
        """What each assignment's book needs (by assignment id), in two or three queries."""
        ids = sorted(allocations)
        totals = await session.execute(
            select(FillRow.assignment_id, func.count(), func.max(FillRow.id))
            .where(FillRow.assignment_id.in_(ids))
            .group_by(FillRow.assignment_id)
        )
        stored = {a: StoredFills(0, 0) for a in ids}
        for assignment_id, count, newest in totals.all():
            stored[int(assignment_id)] = StoredFills(int(count), int(newest))
        continuing: dict[int, KeptBook] = {}
        replaying: list[int] = []
        for a in ids:
            kept, now = self._kept.get(a), stored[a]
            if kept is None or kept.allocation != allocations[a]:
                replaying.append(a)
            elif (kept.fills, kept.last_fill_id) == (now.count, now.last_fill_id):
                now.start = kept  # nothing recorded since
            elif kept.fills < now.count and kept.last_fill_id < now.last_fill_id:
                continuing[a] = kept
            else:
                replaying.append(a)
        if continuing:
            floor = min(k.last_fill_id for k in continuing.values())
            ceiling = max(stored[a].last_fill_id for a in continuing)
            newer: dict[int, list[FillRow]] = {a: [] for a in continuing}
            rows = await session.scalars(
                select(FillRow)
                .where(
                    FillRow.assignment_id.in_(sorted(continuing)),
                    FillRow.id > floor,
                    FillRow.id <= ceiling,
                )
                .order_by(FillRow.id)
            )
            for row in rows:
                a = row.assignment_id
                if continuing[a].last_fill_id < row.id <= stored[a].last_fill_id:
                    newer[a].append(row)
            for a, kept in continuing.items():
                # Exactly the fills counted since the kept book: none committed late below its id
                # (those fills were counted, but are not read). A fill committed after the count
                # is above the newest id counted, so it is left for the next batch.
                if len(newer[a]) == stored[a].count - kept.fills:
                    stored[a].start = kept
                    stored[a].after = [ledger_fill(row) for row in newer[a]]
                else:
                    replaying.append(a)
        if replaying:
            every: dict[int, list[FillRow]] = {a: [] for a in replaying}
            rows = await session.scalars(
                select(FillRow).where(FillRow.assignment_id.in_(sorted(replaying))).order_by(FillRow.id)
            )
            for row in rows:
                every[row.assignment_id].append(row)
            for a, read in every.items():  # counted as read: the count came from an earlier query
                last = max((row.id for row in read), default=0)
                stored[a] = StoredFills(len(read), last, None, [ledger_fill(row) for row in read])
        return stored

    def recorded(self, assignment_id: int, book: SliceBook, fills: int, last_fill_id: int) -> None:
        """`fills` more fills of the slice were committed, the newest `last_fill_id`: `book` is the
        kept book after them. (Should another writer have recorded fills meanwhile, the counts
        will not add up at the next read, and it replays them all.)"""
        kept = self._kept.get(assignment_id)
        if kept is not None:
            self._kept[assignment_id] = KeptBook(kept.allocation, kept.fills + fills, last_fill_id, book)

    def kept(self, assignment_id: int) -> KeptBook | None:
        return self._kept.get(assignment_id)

    def book(
        self, assignment_id: int, allocation: Decimal, base: str, quote: str, stored: StoredFills
    ) -> SliceBook:
        """The book after every recorded fill of `stored`, kept for the next batch."""
        start = stored.start.book if stored.start is not None else None
        book = replay(allocation, base, quote, stored.after, start=start)
        self._kept[assignment_id] = KeptBook(allocation, stored.count, stored.last_fill_id, book)
        return book
