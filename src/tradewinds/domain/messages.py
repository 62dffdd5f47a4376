"""Messages that travel between components over the bus (see docs/architecture.md for subjects).

All are msgspec structs, encoded as msgpack by `tradewinds.bus.codec`.
"""

from __future__ import annotations

import enum

import msgspec

from tradewinds.domain.candles import Candle


class UpdateSource(enum.Enum):
    """Where a candle update came from."""

    LIVE = "live"  # a streamed update of the forming (or just-closed) candle
    SNAPSHOT = "snapshot"  # part of the snapshot a stream sends on (re)subscribe
    BACKFILL = "backfill"  # fetched over REST to fill a gap; always a closed candle


class CloseReason(enum.Enum):
    """Why the core considers a candle closed."""

    NEXT_CANDLE = "next_candle"  # a candle with a later open time arrived for the market
    TIMEOUT = "timeout"  # its period plus the grace time passed with no later candle
    BACKFILL = "backfill"  # it came from history, so it was closed when fetched
    ROLLUP = "rollup"  # a larger-timeframe candle completed by its last 1-minute candle


class CandleUpdate(msgspec.Struct, frozen=True):
    """Exchange adapter -> core: the latest state of one 1-minute candle of a market."""

    exchange: str
    symbol: str
    candle: Candle
    source: UpdateSource = UpdateSource.LIVE
    received_ms: int = 0


class ClosedCandle(msgspec.Struct, frozen=True):
    """Core -> anyone: a candle that will not change any more, already stored."""

    exchange: str
    symbol: str
    timeframe: str
    candle: Candle
    reason: CloseReason


class BackfillRequest(msgspec.Struct, frozen=True):
    """Core -> exchange adapter: please fetch closed 1-minute candles in [since_ms, until_ms]."""

    exchange: str
    symbol: str
    since_ms: int
    until_ms: int


class BackfillResult(msgspec.Struct, frozen=True):
    """Exchange adapter -> core: the reply to a BackfillRequest (same market and range).

    Sent after the fetched candles were published as BACKFILL updates: `count` of them (0 is a
    valid answer: no trades in the range). `error` says why the fetch failed, if it did.
    """

    exchange: str
    symbol: str
    since_ms: int
    until_ms: int
    count: int = 0
    error: str | None = None


# --- presence (every component -> `tradewinds status`) -----------------------------------------

StatValue = float | int | str


class Announcement(msgspec.Struct, frozen=True):
    """A component says it runs (on `tw.presence.{component}` every few seconds, and in answer to
    a query on `tw.presence.query`). `stopping` is its last word on a clean stop."""

    component: str  # "core", "eval", "exchange", "up", ...
    instance: str  # unique per process and start
    host: str
    pid: int
    started_ms: int
    sent_ms: int
    interval_s: float  # the next announcement comes within this
    stats: dict[str, StatValue] = {}  # counters of the component; `lag_ms.{exchange}` and the like
    stopping: bool = False


class StreamAlive(msgspec.Struct, frozen=True):
    """Exchange adapter -> core: everything the venue sent for `symbols` before `until_ms` (the
    adapter's clock) has been published. An adapter that can prove it (a ping answered on the
    connection that carries them) sends this after each minute boundary; the core then closes a
    minute by time only once a report covers its end, and tells an outage from a quiet market.
    It is published on the exchange's liveness subject, after the updates it vouches for."""

    exchange: str
    symbols: tuple[str, ...]
    until_ms: int


class MarketListing(msgspec.Struct, frozen=True):
    """Exchange adapter -> anyone who asks (the web desk): every market the venue lists, the
    markets it streams among them (the answer to a request on `tw.exchange.{ex}.listing`)."""

    exchange: str
    symbols: list[str]
    streamed: list[str] = []
    error: str | None = None  # why the venue's markets could not be listed, if they could not
