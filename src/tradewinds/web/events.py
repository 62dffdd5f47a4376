"""The web server's side of the bus: what it tells the platform, and what it pushes to browsers.

The server never evaluates strategies or places orders. It publishes `AssignmentChanged` when a
user edits assignments or pauses trading (the decision service reloads), and relays to each
signed-in browser the live events it may see: closed candles of the markets it watches, and its
own user's order events (with a hint to refresh the assignments they touch). Without a bus the
site still works; it is just not live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewinds.bus import codec, subjects
from tradewinds.domain.messages import ClosedCandle
from tradewinds.domain.trading import AssignmentChanged, OrderEvent

log = logging.getLogger("tradewinds.web")

_QUEUE_LIMIT = 1_000  # a browser that stops reading loses old events, never the server's memory


@dataclass(eq=False)
class Viewer:
    """One open WebSocket: its user, the candle series it watches, and its outgoing queue."""

    user_id: int
    watching: set[tuple[str, str, str]] = field(default_factory=set)  # (exchange, symbol, timeframe)
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(_QUEUE_LIMIT))

    def offer(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)


def candle_event(closed: ClosedCandle) -> dict[str, Any]:
    c = closed.candle
    return {
        "type": "candle",
        "exchange": closed.exchange,
        "symbol": closed.symbol,
        "timeframe": closed.timeframe,
        "candle": [c.time, c.open, c.high, c.low, c.close, c.volume],
    }


def order_event(event: OrderEvent) -> dict[str, Any]:
    return {"type": "order", "order": msgspec.to_builtins(event)}


class LiveHub:
    """Fans bus events out to the viewers allowed to see them."""

    def __init__(self, bus: Any | None) -> None:
        self.bus = bus
        self._viewers: dict[int, set[Viewer]] = defaultdict(set)
        self._subscriptions: list[Any] = []

    @property
    def live(self) -> bool:
        return self.bus is not None

    async def start(self) -> None:
        if self.bus is None:
            return
        self._subscriptions = [
            await self.bus.subscribe(subjects.ALL_CLOSED_CANDLES, cb=self._on_closed),
            await self.bus.subscribe(subjects.ALL_ORDER_EVENTS, cb=self._on_order),
        ]

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._subscriptions = []

    def join(self, user_id: int) -> Viewer:
        viewer = Viewer(user_id)
        self._viewers[user_id].add(viewer)
        return viewer

    def leave(self, viewer: Viewer) -> None:
        viewers = self._viewers.get(viewer.user_id)
        if viewers is not None:
            viewers.discard(viewer)
            if not viewers:
                del self._viewers[viewer.user_id]

    def viewers(self) -> int:
        return sum(len(v) for v in self._viewers.values())

    async def _on_closed(self, msg: Any) -> None:
        try:
            closed = codec.decode(msg.data, ClosedCandle)
        except msgspec.DecodeError:
            return
        key = (closed.exchange, closed.symbol, closed.timeframe)
        event: dict[str, Any] | None = None
        for viewers in self._viewers.values():
            for viewer in viewers:
                if key in viewer.watching:
                    event = event or candle_event(closed)
                    viewer.offer(event)
                elif closed.timeframe == "1m":
                    # Evaluations and prices move on every close: a cheap hint to refresh.
                    viewer.offer({"type": "tick", "exchange": closed.exchange, "symbol": closed.symbol})

    async def _on_order(self, msg: Any) -> None:
        try:
            event = codec.decode(msg.data, OrderEvent)
        except msgspec.DecodeError:
            return
        for viewer in self._viewers.get(event.user_id, ()):  # only the order's owner sees it
            viewer.offer(order_event(event))


async def publish_assignments_changed(
    app: Any, *, user_id: int | None = None, assignment_id: int | None = None, reason: str = ""
) -> None:
    """Tell the decision service to reload (it also reloads on its own every 30 s)."""
    bus = getattr(app.state, "bus", None)
    if bus is None:
        return
    message = AssignmentChanged(assignment_id=assignment_id, user_id=user_id, reason=reason)
    try:
        await bus.publish(subjects.ASSIGNMENTS_CHANGED, codec.encode(message))
    except Exception as exc:  # the change is stored; the periodic reload picks it up
        log.warning("web: could not announce an assignment change on the bus: %s", exc)
