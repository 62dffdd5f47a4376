"""Liveness of one Bitfinex WebSocket connection, for the core to tell an outage from a quiet market.

A pong comes after everything the venue sent on the connection before it received the ping. So
once the pong is read (and every message before it handled), the connection's markets are known
complete up to when the ping left. The pinger pings after each minute boundary, and soon after a
market caught up following a (re)subscription; a market interrupted between ping and pong (its
`epoch` moved) is not vouched for.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from tradewinds.domain.timeframes import MINUTE_MS


class Resumable(Protocol):
    @property
    def resumed(self) -> bool: ...  # caught up on the current subscription

    @property
    def epoch(self) -> int: ...  # interruptions so far


MarketT = TypeVar("MarketT", bound=Resumable)


class ConnectionPinger(Generic[MarketT]):
    def __init__(self, markets: Sequence[MarketT], now_ms: Callable[[], int], after_minute_ms: int) -> None:
        self._markets = markets
        self._now_ms = now_ms
        self._after_minute_ms = after_minute_ms
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[int, list[tuple[MarketT, int]]]] = {}  # cid -> (sent, markets)
        self._soon = asyncio.Event()

    def ping_soon(self) -> None:
        """A market caught up: vouch for it without waiting for the next minute."""
        self._soon.set()

    def forget(self) -> None:
        """The connection was interrupted: pongs still due vouch for nothing."""
        self._pending.clear()

    async def run(
        self, send: Callable[[dict[str, Any]], Awaitable[None]], paused: Callable[[], bool]
    ) -> None:
        """Ping until cancelled. The clock is read at least every second (a test's may jump)."""
        due = self._next(self._now_ms())
        while True:
            now = self._now_ms()
            soon = self._soon.is_set()
            if not soon and now < due:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._soon.wait(), timeout=min(1.0, (due - now) / 1000))
                continue
            if soon:
                await asyncio.sleep(0.05)  # the other snapshots of a burst are handled meanwhile
            self._soon.clear()
            if now >= due:
                due = self._next(now)
            live = [(m, m.epoch) for m in self._markets if m.resumed]
            if live and not paused():
                cid = next(self._ids)
                self._pending[cid] = (self._now_ms(), live)
                await send({"event": "ping", "cid": cid})

    def on_pong(self, cid: object) -> tuple[int, list[MarketT]] | None:
        """When the ping of `cid` left, and the markets still caught up since; None if unknown."""
        sent = self._pending.pop(cid, None) if isinstance(cid, int) else None
        if sent is None:
            return None
        sent_ms, markets = sent
        return sent_ms, [m for m, epoch in markets if m.resumed and m.epoch == epoch]

    def _next(self, now_ms: int) -> int:
        delay = self._after_minute_ms
        return (now_ms - delay) // MINUTE_MS * MINUTE_MS + MINUTE_MS + delay
