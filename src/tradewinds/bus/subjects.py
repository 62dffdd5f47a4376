"""Every NATS subject Tradewinds uses, in one place (docs/architecture.md lists them too).

A subject token may not contain `.`, `*`, `>` or white space. Exchange ids and timeframes never do;
a symbol may (`BTC/USD` may not, but some venues have dotted ids), so `symbol_token` replaces
them. Messages always carry the real symbol: the subject is for routing and filtering only.
"""

from __future__ import annotations

from tradewinds.domain.timeframes import Timeframe

PREFIX = "tw"

# JetStream stream that keeps closed candles, so a subscriber that was away can catch up.
CANDLES_STREAM = "CANDLES"

_FORBIDDEN = str.maketrans({".": "_", "*": "_", ">": "_", " ": "_", "\t": "_"})


def symbol_token(symbol: str) -> str:
    """`symbol` as a single subject token (`BTC/USD` stays `BTC/USD`)."""
    token = symbol.translate(_FORBIDDEN)
    if not token:
        raise ValueError("a symbol cannot be empty")
    return token


def _token(name: str, value: str) -> str:
    if not value or value != value.translate(_FORBIDDEN):
        raise ValueError(f"{name} {value!r} cannot be part of a subject (no dots, wildcards or spaces)")
    return value


def candle_updates(exchange: str) -> str:
    """Exchange adapter -> core: `CandleUpdate`s of one exchange's 1-minute candles."""
    return f"{PREFIX}.candles.update.{_token('exchange', exchange)}"


ALL_CANDLE_UPDATES = f"{PREFIX}.candles.update.*"


def stream_alive(exchange: str) -> str:
    """Exchange adapter -> core: `StreamAlive` reports. Under the update subject so one
    subscription to `MARKET_FEEDS` gets them in the order the adapter published them."""
    return f"{candle_updates(exchange)}.alive"


# Candle updates and liveness reports of every exchange, in one subscription (the core's).
MARKET_FEEDS = f"{PREFIX}.candles.update.>"


def closed_candles(exchange: str, symbol: str, timeframe: Timeframe | str) -> str:
    """Core -> anyone: the `ClosedCandle`s of one series."""
    label = timeframe.value if isinstance(timeframe, Timeframe) else timeframe
    return f"{PREFIX}.candles.closed.{_token('exchange', exchange)}.{symbol_token(symbol)}.{label}"


ALL_CLOSED_CANDLES = f"{PREFIX}.candles.closed.>"


def closed_candles_filter(
    exchange: str | None = None, symbol: str | None = None, timeframe: Timeframe | str | None = None
) -> str:
    """A subscription subject for closed candles; an argument left out matches anything."""
    ex = _token("exchange", exchange) if exchange else "*"
    sym = symbol_token(symbol) if symbol else "*"
    tf = (timeframe.value if isinstance(timeframe, Timeframe) else timeframe) if timeframe else "*"
    return f"{PREFIX}.candles.closed.{ex}.{sym}.{tf}"


def backfill_requests(exchange: str) -> str:
    """Core -> exchange adapter, request/reply: `BackfillRequest`, answered by a `BackfillResult`."""
    return f"{PREFIX}.exchange.{_token('exchange', exchange)}.backfill"


# --- live trading (payloads in tradewinds.domain.trading) -------------------------------------

# JetStream stream that keeps order intents until the adapter has executed them.
ORDERS_STREAM = "ORDERS"

# Queue group the evaluation workers share, so each request is evaluated by exactly one of them.
EVAL_QUEUE = "eval-workers"

# Core -> evaluation workers, request/reply: `EvaluationRequest`, answered by an `EvaluationReply`.
EVAL_REQUESTS = f"{PREFIX}.eval.request"

# Anyone who changed assignments -> the decision service: `AssignmentChanged` (plain NATS).
ASSIGNMENTS_CHANGED = f"{PREFIX}.assignments.changed"


def order_intents(exchange: str) -> str:
    """Decision service -> exchange adapter: `OrderIntents` (one close's) or a single `OrderIntent`
    for one exchange (JetStream ORDERS)."""
    return f"{PREFIX}.orders.intent.{_token('exchange', exchange)}"


ALL_ORDER_INTENTS = f"{PREFIX}.orders.intent.*"


def order_events(user_id: int) -> str:
    """Exchange adapter -> watchers: `OrderEvent`s of one user's orders (plain NATS)."""
    return f"{PREFIX}.orders.event.{user_id}"


ALL_ORDER_EVENTS = f"{PREFIX}.orders.event.*"


# --- presence (payload: tradewinds.domain.messages.Announcement) --------------------------------


def presence(component: str) -> str:
    """A component -> `tradewinds status`: its periodic `Announcement` (plain NATS)."""
    return f"{PREFIX}.presence.{_token('component', component)}"


ALL_PRESENCE = f"{PREFIX}.presence.*"

# `tradewinds status` -> every component: answer at once with an `Announcement` (request, many
# replies). Not matched by ALL_PRESENCE's wildcard for announcements: it carries no payload.
PRESENCE_QUERY = f"{PREFIX}.presence_query"


def market_listing(exchange: str) -> str:
    """Anyone -> exchange adapter, request/reply: an empty request, answered by a `MarketListing`."""
    return f"{PREFIX}.exchange.{_token('exchange', exchange)}.listing"


def markets_wanted(exchange: str) -> str:
    """Decision service -> exchange adapter: `MarketsWanted`, the markets assignments trade there
    (plain NATS, announced on every change and every 30 s)."""
    return f"{PREFIX}.exchange.{_token('exchange', exchange)}.markets"
