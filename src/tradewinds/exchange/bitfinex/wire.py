"""Bitfinex API v2 wire format: candle arrays, channel keys and the event codes the stream acts on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tradewinds.domain.candles import Candle

# Info events (only their code is reliable, the text may change).
INFO_RESTART = 20051  # the WebSocket server restarts: reconnect
INFO_MAINTENANCE_START = 20060  # pause until 20061
INFO_MAINTENANCE_END = 20061  # resume: unsubscribe and subscribe again

# Error events.
ERR_SUBSCRIBE_FAILED = 10300
ERR_ALREADY_SUBSCRIBED = 10301
ERR_UNKNOWN_CHANNEL = 10302
ERR_CHANNEL_LIMIT = 10305

SUBSCRIBE_ERRORS = {
    ERR_SUBSCRIBE_FAILED: "subscription failed (unknown symbol or key?)",
    ERR_ALREADY_SUBSCRIBED: "already subscribed",
    ERR_UNKNOWN_CHANNEL: "unknown channel",
    ERR_CHANNEL_LIMIT: "too many channels on one connection",
}

HEARTBEAT = "hb"


def candle_key(symbol_id: str, timeframe: str = "1m") -> str:
    """The candles channel key, e.g. `trade:1m:tBTCUSD`."""
    return f"trade:{timeframe}:{symbol_id}"


def symbol_id_of_key(key: str) -> str:
    """`tAVAX:USD` from `trade:1m:tAVAX:USD` (pair ids may contain a colon)."""
    return key.split(":", 2)[2]


def candle_from_wire(row: Sequence[Any]) -> Candle:
    """A candle from `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]` (close comes before high and low)."""
    if len(row) < 6:
        raise ValueError(f"a Bitfinex candle has 6 fields, got {list(row)!r}")
    return Candle(
        time=int(row[0]),
        open=float(row[1]),
        high=float(row[3]),
        low=float(row[4]),
        close=float(row[2]),
        volume=float(row[5]),
    )


def is_snapshot(payload: list[Any]) -> bool:
    """A channel payload is a snapshot (list of candles, maybe empty) rather than one candle."""
    return not payload or isinstance(payload[0], list)
