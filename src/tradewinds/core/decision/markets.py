"""MarketsAnnouncer: tells each exchange adapter which markets enabled assignments trade.

A `MarketsWanted` per exchange goes out on `tw.exchange.{exchange}.markets` whenever the set of
markets changes and every `interval_s` seconds (so an adapter that starts later hears it too),
with the 1-minute history each market's strategies need: the largest window among its
assignments, in minutes of its timeframe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from tradewinds.bus import codec, subjects
from tradewinds.core.decision.plan import Roster
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.trading import Assignment, MarketsWanted

log = logging.getLogger("tradewinds.decision")

HistoryCandles = Callable[[list[Assignment]], Awaitable[int]]


def wanted_markets(assignments: list[Assignment], windows: dict[int, int]) -> dict[str, MarketsWanted]:
    """Pure: per exchange, the symbols and the minutes of history each needs (`windows`: candles
    per assignment id)."""
    minutes: dict[str, dict[str, int]] = defaultdict(dict)
    for a in assignments:
        span = windows.get(a.id, 0) * Timeframe(a.timeframe).ms // MINUTE_MS
        known = minutes[a.exchange]
        known[a.symbol] = max(known.get(a.symbol, 0), span)
    now = time.time_ns() // 1_000_000
    return {
        exchange: MarketsWanted(exchange, sorted(by_symbol), dict(sorted(by_symbol.items())), now)
        for exchange, by_symbol in minutes.items()
    }


class MarketsAnnouncer:
    def __init__(self, bus: Any, interval_s: float = 30.0) -> None:
        self.bus = bus
        self.interval_s = interval_s
        self._roster: Roster | None = None
        self._history: HistoryCandles | None = None
        self._task: asyncio.Task[None] | None = None
        self._last: dict[str, tuple[list[str], dict[str, int]]] = {}
        self.announced = 0

    async def start(self, roster: Roster, history: HistoryCandles) -> None:
        """Announce in the background: sizing every strategy's window takes a while at first."""
        self._roster, self._history = roster, history
        self._task = asyncio.create_task(self._repeat(), name="decision-markets")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)  # a cancel of stop() still ends it

    async def announce(self, force: bool = False) -> None:
        if self._roster is None or self._history is None:
            return
        assignments = list(self._roster)
        windows = {a.id: await self._history([a]) for a in assignments}
        for exchange, message in wanted_markets(assignments, windows).items():
            current = (message.symbols, message.history_minutes)
            if not force and self._last.get(exchange) == current:
                continue
            self._last[exchange] = current
            try:
                await self.bus.publish(subjects.markets_wanted(exchange), codec.encode(message))
                self.announced += 1
            except Exception as exc:  # the bus is reconnecting; the next round repeats it
                log.warning("decision: announcing the markets of %s failed: %s", exchange, exc)

    async def _repeat(self) -> None:
        while True:
            try:
                await self.announce(force=True)
            except Exception as exc:  # a strategy's window could not be sized: say so, go on
                log.error("decision: announcing the markets wanted failed: %s", exc)
            await asyncio.sleep(self.interval_s)
