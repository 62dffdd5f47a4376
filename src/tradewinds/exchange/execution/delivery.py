"""One JetStream message of order intents, from its delivery until it is acknowledged.

A message holds the intents of one close (`OrderIntents`) or a single `OrderIntent`. Its intents
may execute in different places (paper ones in the paper lane, each exchange key's in its own
turn); the message is acknowledged once every intent is done, and handed back for a later
delivery when any was left unknown (an exchange unreachable). A redelivered message repeats
nothing: each intent finds its own records and continues from them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec

from tradewinds.bus import codec
from tradewinds.domain.trading import OrderIntent, OrderIntents
from tradewinds.exchange.execution.executor import Outcome


def decode_intents(data: bytes) -> list[OrderIntent]:
    """The intents a message carries; raises msgspec.DecodeError when it is neither kind."""
    try:
        return codec.decode(data, OrderIntents).intents
    except msgspec.DecodeError:
        return [codec.decode(data, OrderIntent)]


class Delivery:
    """`settle` each of `intents` once; the last one acknowledges or hands back the message."""

    def __init__(self, msg: Any, intents: list[OrderIntent], ack_wait_s: float, retry_delay_s: float) -> None:
        self.msg = msg
        self.intents = intents
        self.retry_delay_s = retry_delay_s
        self._left = len(intents)
        self._retry = False
        # Tell JetStream the message is being worked on, so a long execution is not redelivered.
        self._keep_alive = asyncio.create_task(_keep_alive(msg, ack_wait_s / 3))

    @property
    def finished(self) -> bool:
        return self._left <= 0

    async def settle(self, outcome: Outcome) -> None:
        self._left -= 1
        self._retry = self._retry or outcome is Outcome.RETRY
        if self._left == 0:
            await self._finish()

    async def hand_back(self) -> None:
        """Deliver the whole message again later (nothing of it was executed now)."""
        self._retry, self._left = True, 0
        await self._finish()

    def abandon(self) -> None:
        """Stopping: JetStream delivers the message again after its ack wait."""
        self._keep_alive.cancel()

    async def _finish(self) -> None:
        self._keep_alive.cancel()
        with contextlib.suppress(Exception):  # a message not acknowledged is delivered again
            if self._retry:
                await self.msg.nak(delay=self.retry_delay_s)
            else:
                await self.msg.ack()


async def _keep_alive(msg: Any, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()
