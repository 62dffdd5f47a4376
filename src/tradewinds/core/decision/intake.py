"""CloseIntake: closed candles from the durable consumer to the handler, acknowledged once done.

A fetch returns the closes already in, so one minute's 200 closes, published one after another
by the core, arrive as several batches. Handled one after another, the last batch's strategies
waited for the first batch's recording; so each batch goes to a task of its own while the next
is fetched. The series of a batch that an earlier task is still handling go in a task that waits
for that one first: each series stays in order, and a slow market holds up only its own later
closes. Within a task, closes go in waves (the k-th close of each series): a wave in parallel,
acknowledged once handled; a failed wave and those after it are delivered again, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nats.errors

from tradewinds.bus import codec
from tradewinds.domain.messages import ClosedCandle

log = logging.getLogger("tradewinds.decision")

Series = tuple[str, str, str]  # exchange, symbol, timeframe
Close = tuple[ClosedCandle, Any]  # the close and its JetStream message
Handle = Callable[[list[Close]], Awaitable[object]]
FETCH_WAIT_S = 1.0  # how long a fetch waits for closes (its pull request's life at the server)
LAST_FETCH_WAIT_S = 0.05


class CloseIntake:
    def __init__(
        self, pull: Any, handle: Handle, on_error: Callable[[], None], fetch_batch: int, concurrent: int
    ) -> None:
        self.pull = pull
        self.handle = handle  # closes of different series, handled together
        self.on_error = on_error
        self.fetch_batch = fetch_batch
        self.concurrent = concurrent  # tasks handling closes at once (fetching waits beyond)

    async def run(self) -> None:
        handling: dict[asyncio.Task[None], set[Series]] = {}
        loop = asyncio.get_running_loop()
        open_until = 0.0  # when the server drops the pull request of the fetch under way
        try:
            while True:
                try:
                    open_until = loop.time() + FETCH_WAIT_S
                    messages = await self.pull.fetch(self.fetch_batch, timeout=FETCH_WAIT_S)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except Exception as exc:  # NATS reconnecting: wait and fetch again
                    log.warning("decision: fetching closes failed: %s", exc)
                    await asyncio.sleep(1.0)
                    continue
                by_series = await _by_series(messages)
                earlier = {task for task, series in handling.items() if series & by_series.keys()}
                busy = set().union(*(handling[task] for task in earlier))
                free = {key: closes for key, closes in by_series.items() if key not in busy}
                waiting = {key: closes for key, closes in by_series.items() if key in busy}
                while len(handling) >= self.concurrent:
                    await asyncio.wait(handling, return_when=asyncio.FIRST_COMPLETED)
                for group, after in ((free, set()), (waiting, earlier)):
                    if group:
                        task = asyncio.create_task(self._handle_after(after, waves(list(group.values()))))
                        handling[task] = set(group)
                        task.add_done_callback(lambda done: handling.pop(done, None))
        finally:
            # Stopping. A close handed back now would go to the pull request of the fetch just
            # interrupted, still open at the server, and wait out the ack wait there (a minute:
            # stale by then): let that request expire first. What it delivered meanwhile (closes
            # published during the stop) sits in the subscription: handed back too.
            await asyncio.sleep(max(0.0, open_until - loop.time()))
            delivered = await self._delivered_meanwhile()
            for task in handling:
                task.cancel()  # each hands its closes back (nak) as it stops
            await asyncio.gather(*handling, return_exceptions=True)
            await nak_all(delivered)

    async def _delivered_meanwhile(self) -> list[Any]:
        """The messages in the subscription that no fetch returned (a fetch takes those first;
        with none, its own short pull request returns what is published while it lasts)."""
        try:
            return list(await self.pull.fetch(self.fetch_batch, timeout=LAST_FETCH_WAIT_S))
        except Exception:  # none (a timeout), or the connection is gone
            return []

    async def _handle_after(self, earlier: set[asyncio.Task[None]], in_waves: list[list[Close]]) -> None:
        if earlier:
            try:
                await asyncio.wait(earlier)
            except asyncio.CancelledError:  # stopping before its turn came
                await hand_back(in_waves)
                raise
        await self._handle_waves(in_waves)

    async def _handle_waves(self, in_waves: list[list[Close]]) -> None:
        for index, wave in enumerate(in_waves):
            try:
                await self.handle(wave)
            except asyncio.CancelledError:  # stopping: hand the closes back now, not after ack_wait
                await hand_back(in_waves[index:])
                raise
            except Exception as exc:  # the database or the bus failed: redeliver, in order
                self.on_error()
                log.error(
                    "decision: handling %d closes failed (%s); they will be delivered again", len(wave), exc
                )
                await hand_back(in_waves[index:], delay=2.0)
                return
            await asyncio.gather(*(msg.ack() for _, msg in wave), return_exceptions=True)


async def _by_series(messages: list[Any]) -> dict[Series, list[Close]]:
    by_series: dict[Series, list[Close]] = {}
    for msg in messages:
        try:
            close = codec.decode(msg.data, ClosedCandle)
        except msgspec.DecodeError as exc:
            log.warning("decision: dropped a message on %s that is not a ClosedCandle: %s", msg.subject, exc)
            await msg.term()
            continue
        by_series.setdefault((close.exchange, close.symbol, close.timeframe), []).append((close, msg))
    return by_series


def waves(series: list[list[Close]]) -> list[list[Close]]:
    """Wave k holds the k-th close of each series."""
    depth = max((len(items) for items in series), default=0)
    return [[items[k] for items in series if k < len(items)] for k in range(depth)]


async def hand_back(in_waves: list[list[Close]], delay: float | None = None) -> None:
    """Leave the closes for JetStream to deliver again (after `delay`), in order."""
    await nak_all([msg for wave in in_waves for _, msg in wave], delay)


async def nak_all(messages: list[Any], delay: float | None = None) -> None:
    for msg in messages:
        with contextlib.suppress(Exception):  # the connection may be gone: the ack wait then
            await msg.nak(delay=delay)
