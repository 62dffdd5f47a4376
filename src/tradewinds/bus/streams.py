"""JetStream streams: where a message must not be lost while its reader is away.

CANDLES keeps closed candles for two days, so a worker or watcher that restarts catches up
from where it stopped; the database keeps them for ever. Each close is published with a message
id (its series and open time), so a close published again within the duplicate window is stored
once: a core that restarts re-closes the day of minutes it backfills, so the window is a day and
an hour.
"""

from __future__ import annotations

from typing import Any

import nats.js.errors
from nats.js.api import StreamConfig

from tradewinds.bus import subjects
from tradewinds.domain.messages import ClosedCandle

DAY_SECONDS = 24 * 3600.0

CANDLES = StreamConfig(
    name=subjects.CANDLES_STREAM,
    subjects=[subjects.ALL_CLOSED_CANDLES],
    max_age=2 * DAY_SECONDS,
    duplicate_window=DAY_SECONDS + 3600.0,
)

# Order intents wait here until the exchange adapter has executed them (it acknowledges each one
# only once the outcome is recorded). The message id is the intent id: a decision published twice
# within the window is stored once.
ORDERS = StreamConfig(
    name=subjects.ORDERS_STREAM,
    subjects=[subjects.ALL_ORDER_INTENTS],
    max_age=7 * DAY_SECONDS,
    duplicate_window=DAY_SECONDS + 3600.0,
)


async def ensure_stream(js: Any, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to `config` (several processes may race here)."""
    try:
        await js.stream_info(config.name)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(config)
            return
        except nats.js.errors.BadRequestError:  # another process created it first
            pass
    await js.update_stream(config)


def closed_candle_id(candle: ClosedCandle) -> str:
    """The JetStream message id of a close: the same close published twice has the same id."""
    return f"{candle.exchange}:{candle.symbol}:{candle.timeframe}:{candle.candle.time}"
