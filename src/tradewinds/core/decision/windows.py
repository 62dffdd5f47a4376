"""WindowCache: the candle window of each series kept between closes, so a close that follows the
previous one extends the window in memory instead of reading it from the database again.

It equals a fresh read (the newest `size` stored candles up to the close) as long as the closes
are contiguous: the next close opens one period after the last. Anything else (a gap, a larger
window wanted, a redelivered older close) reads again, and so does every `refresh_every`-th close
of a series, which picks up corrections the core stored for candles already closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle, SeriesKey


@dataclass
class _Entry:
    window: CandleArrays
    size: int  # the candles asked for when it was read (it holds fewer if history is shorter)
    uses: int = 0


class WindowCache:
    def __init__(self, refresh_every: int = 60) -> None:
        self.refresh_every = refresh_every
        self._entries: dict[SeriesKey, _Entry] = {}
        self.hits = 0
        self.misses = 0

    def extend(self, key: SeriesKey, candle: Candle, size: int) -> CandleArrays | None:
        """The window ending at `candle`, or None when it must be read from the database."""
        entry = self._entries.get(key)
        if (
            entry is None
            or entry.uses + 1 >= self.refresh_every
            or size > entry.size
            or not len(entry.window)
        ):
            self.misses += 1
            return None
        last = int(entry.window.time[-1])
        if candle.time != last + key.timeframe.ms:
            self.misses += 1
            return None
        grown = CandleArrays.concat([entry.window, CandleArrays.from_candles([candle])])
        if len(grown) > entry.size:
            grown = grown.slice(len(grown) - entry.size, len(grown))
        entry.window, entry.uses = grown, entry.uses + 1
        self.hits += 1
        return grown if len(grown) <= size else grown.slice(len(grown) - size, len(grown))

    def put(self, key: SeriesKey, window: CandleArrays, size: int) -> None:
        self._entries[key] = _Entry(window, size)

    def forget(self, key: SeriesKey) -> None:
        self._entries.pop(key, None)
