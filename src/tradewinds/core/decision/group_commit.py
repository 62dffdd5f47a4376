"""GroupCommit: what concurrent callers want recorded goes in one transaction at a time.

The closes of a minute are handled by several tasks at once (one per fetched batch), each
recording the replies it has as they come in. Each recording its own, they queued on the one
database writer for a transaction apiece, each with the fixed cost of its queries: 30 small
transactions a wave. Here a caller's items join whatever is waiting while a transaction runs,
and the next transaction takes them all: a handful a wave, however many callers.

All of one transaction's callers get its failure. A caller cancelled while it waits leaves its
items in the transaction (recorded, as a close redelivered later finds them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`record(items)` returns `commit(all items waiting)`'s results for `items`, in order;
    `commit` returns one result per item."""

    def __init__(self, commit: Callable[[list[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._commit = commit
        self._waiting: list[tuple[list[Item], asyncio.Future[list[Result]]]] = []
        self._running: asyncio.Task[None] | None = None
        self.commits = 0  # transactions begun

    async def record(self, items: list[Item]) -> list[Result]:
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain(), name="decision-group-commit")
        return await future

    async def finish(self) -> None:
        """Wait for the transactions under way (stopping: their callers were cancelled)."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)

    async def _drain(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            self.commits += 1
            try:
                results = list(await self._commit([item for items, _ in taken for item in items]))
            except Exception as exc:
                for _, future in taken:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # this task was cancelled: no caller may wait forever
                for _, future in [*taken, *self._waiting]:
                    future.cancel()
                self._waiting = []
                raise
            start = 0
            for items, future in taken:
                if not future.done():  # its caller may have been cancelled meanwhile
                    future.set_result(results[start : start + len(items)])
                start += len(items)
