"""The backfills one market is waiting for: rollups that could still be filled wait for them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PendingBackfill:
    since_ms: int  # first missing minute (open time, inclusive)
    until_ms: int  # last missing minute (inclusive)
    deadline_ms: int  # after this the answer is given up on


class BackfillTracker:
    def __init__(self) -> None:
        self._pending: dict[tuple[int, int], PendingBackfill] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def request(self, since_ms: int, until_ms: int, deadline_ms: int) -> bool:
        """Record a request; False if the same range is already outstanding (do not send it again)."""
        key = (since_ms, until_ms)
        if key in self._pending:
            return False
        self._pending[key] = PendingBackfill(since_ms, until_ms, deadline_ms)
        return True

    def done(self, since_ms: int, until_ms: int) -> bool:
        """The answer for a range arrived (or failed); False if it was not outstanding."""
        return self._pending.pop((since_ms, until_ms), None) is not None

    def expire(self, now_ms: int) -> list[PendingBackfill]:
        """Give up on requests past their deadline; return them."""
        late = [p for p in self._pending.values() if now_ms >= p.deadline_ms]
        for p in late:
            del self._pending[(p.since_ms, p.until_ms)]
        return late

    def earliest_since(self) -> int | None:
        """The first minute an outstanding backfill may still fill, if any."""
        return min((p.since_ms for p in self._pending.values()), default=None)
