"""Candle updates (and liveness reports) from many producer tasks (one per connection or market)
into one stream, in the order they were put.

Producers retry network trouble themselves; one that raises has a bug, so the stream ends with
its error rather than going quiet. The queue is bounded: a slow consumer slows the producers
instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")


class UpdateFanIn(Generic[Item]):
    def __init__(self, queue_size: int) -> None:
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue(queue_size)
        self._failure: BaseException | None = None

    async def put(self, update: Item) -> None:
        await self._queue.put(update)

    async def updates(
        self,
        producers: Iterable[tuple[str, Coroutine[Any, Any, None]]],
        also_cancel: Callable[[], Iterable[asyncio.Task[Any]]] = tuple,
    ) -> AsyncIterator[Item]:
        """Run the (name, coroutine) producers and yield what they put, until the consumer stops
        (then the producers and `also_cancel()`'s tasks are cancelled) or a producer fails."""
        tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in producers]
        for task in tasks:
            task.add_done_callback(self._on_done)
        try:
            while True:
                item = await self._queue.get()
                if self._failure is not None:
                    raise self._failure
                if item is not None:
                    yield item
        finally:
            stopping = [*tasks, *also_cancel()]
            for task in stopping:
                task.cancel()
            await asyncio.gather(*stopping, return_exceptions=True)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._failure = task.exception()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wake the consumer
