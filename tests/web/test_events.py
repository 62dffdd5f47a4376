"""What the live hub relays to each browser: only its own user's orders, and only the candles of
the market it watches (a tick for the rest)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradewinds.bus import codec
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import ClosedCandle, CloseReason
from tradewinds.domain.trading import OrderEvent, OrderState
from tradewinds.web.events import LiveHub


class Message:
    def __init__(self, data: bytes) -> None:
        self.data = data


def order(user_id: int) -> Any:
    event = OrderEvent(
        order_id=1, assignment_id=2, user_id=user_id, intent_id="2:0", client_order_id=5, exchange="sim",
        symbol="ALPHA/USD", side="buy", amount=Decimal(1), status=OrderState.FILLED, price=Decimal("10.5"),
    )  # fmt: skip
    return Message(codec.encode(event))


def closed(symbol: str, timeframe: str) -> Any:
    candle = Candle(60_000, 1.0, 2.0, 0.5, 1.5, 3.0)
    return Message(codec.encode(ClosedCandle("sim", symbol, timeframe, candle, CloseReason.NEXT_CANDLE)))


def drain(viewer: Any) -> list[dict[str, Any]]:
    out = []
    while not viewer.queue.empty():
        out.append(viewer.queue.get_nowait())
    return out


async def test_orders_reach_only_their_owner() -> None:
    hub = LiveHub(bus=None)
    alice, bob = hub.join(1), hub.join(2)
    await hub._on_order(order(user_id=1))
    received = drain(alice)
    assert [e["type"] for e in received] == ["order"] and received[0]["order"]["price"] == "10.5"
    assert drain(bob) == []


async def test_candles_of_the_watched_market_and_ticks_for_the_rest() -> None:
    hub = LiveHub(bus=None)
    watching, other = hub.join(1), hub.join(2)
    watching.watching.add(("sim", "ALPHA/USD", "5m"))
    await hub._on_closed(closed("ALPHA/USD", "5m"))
    await hub._on_closed(closed("BRAVO/USD", "1m"))
    assert [e["type"] for e in drain(watching)] == ["candle", "tick"]
    assert [e["type"] for e in drain(other)] == ["tick"]  # a 1m close: prices moved
    hub.leave(watching)
    hub.leave(other)
    assert hub.viewers() == 0


async def test_a_browser_that_stops_reading_loses_old_events_not_memory() -> None:
    hub = LiveHub(bus=None)
    viewer = hub.join(1)
    for _ in range(1_500):
        await hub._on_order(order(user_id=1))
    assert viewer.queue.qsize() == 1_000
