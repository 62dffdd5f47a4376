"""MarketsFollower: an exchange adapter streams every market an enabled assignment trades.

The decision service announces `MarketsWanted` on `tw.exchange.{exchange}.markets` (on every
change and every 30 s). A market the adapter does not stream yet is first backfilled with the
1-minute history its strategies need (published as BACKFILL updates, so the core stores and rolls
them up, and the strategies do not sit warming up), then streamed beside the others in a stream
of its own: the running streams are not interrupted. A market the exchange refuses is logged
and dropped, and the other markets go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from tradewinds.bus import codec, subjects
from tradewinds.domain.messages import BackfillRequest, CandleUpdate
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.domain.trading import MarketsWanted
from tradewinds.exchange.adapter import ExchangeError

if TYPE_CHECKING:
    from tradewinds.exchange.service import ExchangeService

log = logging.getLogger("tradewinds.exchange")

MAX_HISTORY_MINUTES = 30 * 24 * 60  # the most history fetched for a newly wanted market


def new_symbols(streamed: list[str], wanted: MarketsWanted) -> list[str]:
    """Pure: the wanted symbols not streamed yet, in the message's order."""
    known = set(streamed)
    return [s for s in wanted.symbols if s not in known]


def history_ranges(now_ms: int, minutes: int, chunk_minutes: int) -> list[tuple[int, int]]:
    """Pure: [since, until] ranges of whole minutes, oldest first, covering `minutes` before the
    minute of `now_ms` (that one is still forming), each at most `chunk_minutes` long."""
    minutes = min(max(minutes, 0), MAX_HISTORY_MINUTES)
    current = now_ms - now_ms % MINUTE_MS
    start = current - minutes * MINUTE_MS
    ranges: list[tuple[int, int]] = []
    while start < current:
        until = min(start + chunk_minutes * MINUTE_MS, current) - MINUTE_MS
        ranges.append((start, until))
        start = until + MINUTE_MS
    return ranges


class MarketsFollower:
    def __init__(self, service: ExchangeService) -> None:
        self.service = service
        self.exchange = service.adapter.name
        self._subscriptions: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._adding: set[str] = set()
        self._latest_ms = 0  # the newest candle this adapter streamed: the exchange's own clock
        self.added: list[str] = []
        self.refused: dict[str, str] = {}

    async def start(self) -> None:
        bus = self.service.bus
        self._subscriptions = [
            await bus.subscribe(subjects.markets_wanted(self.exchange), cb=self._on_wanted),
            await bus.subscribe(subjects.candle_updates(self.exchange), cb=self._on_update),
        ]

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def now_ms(self) -> int:
        return self._latest_ms + MINUTE_MS if self._latest_ms else time.time_ns() // 1_000_000

    async def _on_update(self, msg: Any) -> None:
        try:
            update = codec.decode(msg.data, CandleUpdate)
        except msgspec.DecodeError:
            return
        self._latest_ms = max(self._latest_ms, update.candle.time)

    async def _on_wanted(self, msg: Any) -> None:
        try:
            wanted = codec.decode(msg.data, MarketsWanted)
        except msgspec.DecodeError as exc:
            log.warning("%s: ignored a markets message that does not decode: %s", self.exchange, exc)
            return
        if wanted.exchange != self.exchange:
            return
        fresh = [
            s
            for s in new_symbols(self.service.symbols, wanted)
            if s not in self._adding and s not in self.refused
        ]
        if not fresh:
            return
        self._adding.update(fresh)
        task = asyncio.create_task(
            self._add(fresh, wanted.history_minutes), name=f"{self.exchange}-add-markets"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _add(self, symbols: list[str], history: dict[str, int]) -> None:
        log.info("%s: assignments trade %s: backfilling and streaming", self.exchange, ", ".join(symbols))
        now = self.now_ms()
        for symbol in symbols:
            for since, until in history_ranges(
                now, history.get(symbol, 0), self.service.settings.max_backfill_minutes
            ):
                result = await self.service.backfill(BackfillRequest(self.exchange, symbol, since, until))
                if result.error:
                    log.warning(
                        "%s: history of %s could not be fetched: %s", self.exchange, symbol, result.error
                    )
                    break
        self.service.symbols.extend(symbols)
        self.added.extend(symbols)
        self._adding.difference_update(symbols)
        stream = asyncio.create_task(self._stream(symbols), name=f"{self.exchange}-stream-{len(self.added)}")
        self._tasks.add(stream)
        stream.add_done_callback(self._tasks.discard)

    async def _stream(self, symbols: list[str]) -> None:
        try:
            await self.service.stream(symbols)
        except ExchangeError as exc:  # e.g. a market the exchange does not list
            if len(symbols) > 1:  # find which: each alone, so the others stream on
                await asyncio.gather(*(self._stream([symbol]) for symbol in symbols))
                return
            log.error("%s: cannot stream %s: %s", self.exchange, symbols[0], exc)
            self.refused[symbols[0]] = str(exc)
            with contextlib.suppress(ValueError):
                self.service.symbols.remove(symbols[0])
