"""The live-trading domain and the messages that carry it between components.

The loop, end to end (docs/architecture.md draws it):

1. The core's decision service reads closed candles from JetStream (durable consumer), finds the
   enabled `Assignment`s due for that market and timeframe, and sends one `EvaluationRequest` per
   market and timeframe (the candle window travels once for all its strategies) to the evaluation
   workers (queue group). A worker answers with an `EvaluationReply`.
2. Where a result's target differs from the assignment's current target, the decision service
   records the decision and publishes an `OrderIntent`, the intents of one close together as
   `OrderIntents`, on JetStream (stream ORDERS; a repeat of the same message id is stored once).
3. The exchange adapter of that exchange consumes intents (durable consumer) and trades until the
   assignment's slice of the account holds the target, recording every order and fill. It
   publishes an `OrderEvent` for each change of an order, for watchers (status, web).

Money is `Decimal`, carried as strings on the wire (msgspec encodes Decimal as str).
"""

from __future__ import annotations

import enum
import hashlib
from decimal import Decimal

import msgspec

ParamValue = float | int | str | bool


class AccountKind(enum.Enum):
    PAPER = "paper"  # balances kept by Tradewinds, filled at the latest price
    EXCHANGE = "exchange"  # a real exchange account, reached with API keys


class Assignment(msgspec.Struct, frozen=True):
    """A strategy version trading one market on one account, with its own slice of the account.

    `allocation` is the quote currency the assignment starts with; `target` is the position the
    platform last decided for it (it starts `short`: in cash).
    """

    id: int
    user_id: int
    strategy_name: str
    version_id: int
    version: int  # the version's number within its strategy (1, 2, ...)
    source: str  # the version's Lua source (immutable)
    exchange: str
    symbol: str
    timeframe: str  # Timeframe.value
    account_id: int
    allocation: Decimal
    params: dict[str, ParamValue] = {}
    enabled: bool = True
    target: str = "short"  # TargetPosition.value


# --- core -> workers -----------------------------------------------------------------------------


class EvaluationItem(msgspec.Struct, frozen=True):
    """One strategy to evaluate on the request's window."""

    assignment_id: int
    version_id: int  # workers cache compiled strategies by (version_id, params)
    source: str
    params: dict[str, ParamValue]
    position: str  # what `position()` returns: the assignment's current target


class EvaluationRequest(msgspec.Struct, frozen=True):
    """Decide at the last candle of `window` for every item (one market and timeframe).

    `window` holds the columns time, open, high, low, close, volume as little-endian float64
    bytes (numpy `tobytes()`), oldest first; its last candle is the one that just closed.
    """

    request_id: str
    exchange: str
    symbol: str
    timeframe: str
    candle_time_ms: int
    window: list[bytes]
    items: list[EvaluationItem]


class EvaluationOutcome(enum.Enum):
    DECIDED = "decided"  # returned "long" or "short"
    KEPT = "kept"  # returned nil
    WARMING_UP = "warming_up"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    # Not run: the strategy stopped the evaluation process repeatedly (message: the reason).
    # The decision layer should disable the assignment.
    DISABLED = "disabled"


class EvaluationResult(msgspec.Struct, frozen=True):
    assignment_id: int
    outcome: EvaluationOutcome
    target: str | None = None  # set when DECIDED
    message: str | None = None  # the error (with the strategy's line) or the warm-up note
    logs: list[str] = []


class EvaluationReply(msgspec.Struct, frozen=True):
    request_id: str
    worker: str
    results: list[EvaluationResult]
    elapsed_ms: float = 0.0


# --- core -> exchange adapter ------------------------------------------------------------------


def intent_id(assignment_id: int, candle_time_ms: int) -> str:
    """One decision per assignment and closed candle: the id that makes execution exactly-once."""
    return f"{assignment_id}:{candle_time_ms}"


class OrderIntent(msgspec.Struct, frozen=True):
    """Bring the assignment's slice to `target` (published on JetStream, id = `intent_id`)."""

    intent_id: str
    assignment_id: int
    user_id: int
    account_id: int
    exchange: str
    symbol: str
    timeframe: str
    target: str  # TargetPosition.value
    candle_time_ms: int  # open time of the closed candle the decision came from
    candle_close: float  # its close: the price the decision saw
    decided_ms: int  # wall clock when the decision was recorded (latency measurements)


class OrderIntents(msgspec.Struct, frozen=True):
    """The intents one closed candle made on one exchange, in one JetStream message (ORDERS,
    message id = `bundle_id`): one message per close instead of one per assignment. The executor
    also takes a single `OrderIntent`; either way each intent executes exactly once by its id."""

    bundle_id: str
    intents: list[OrderIntent]


def client_order_id(intent: str, leg: int) -> int:
    """The client order id of the `leg`-th order (0, 1, ...) placed for an intent.

    Derived, not drawn, so a redelivered intent or a restarted adapter asks for the same order.
    Below 2**45: Bitfinex's `cid` limit (unique per UTC day together with `cid_date`).
    """
    digest = hashlib.blake2b(f"{intent}#{leg}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**45 - 1) + 1


# --- exchange adapter -> watchers ----------------------------------------------------------------


class OrderState(enum.Enum):
    PENDING = "pending"  # recorded, not yet acknowledged by the exchange
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    FAILED = "failed"  # could not be placed (an error we will not retry)


class OrderEvent(msgspec.Struct, frozen=True):
    """An order changed (published on `tw.orders.event.{user_id}`; plain NATS, for watchers)."""

    order_id: int
    assignment_id: int
    user_id: int
    intent_id: str
    client_order_id: int
    exchange: str
    symbol: str
    side: str  # "buy" | "sell"
    amount: Decimal
    status: OrderState
    filled: Decimal = Decimal(0)
    price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    error: str | None = None
    updated_ms: int = 0


class AssignmentChanged(msgspec.Struct, frozen=True):
    """Something about an assignment changed in the database (`None`: reload them all)."""

    assignment_id: int | None = None
    user_id: int | None = None
    reason: str = ""


# --- decision service -> exchange adapter --------------------------------------------------------


class MarketsWanted(msgspec.Struct, frozen=True):
    """The markets of `exchange` that enabled assignments trade, with the 1-minute history each
    needs (minutes), so an adapter that does not stream one yet backfills it and starts streaming."""

    exchange: str
    symbols: list[str]
    history_minutes: dict[str, int] = {}
    sent_ms: int = 0
