"""EvaluationWorker: answers `EvaluationRequest`s from the queue group all workers share.

Requests arrive on `tw.eval.request` in the queue group `eval-workers`, so NATS hands each one to
exactly one worker and every worker added adds throughput. The strategies run in a
`SupervisedEvaluator` child process, driven from one thread: the event loop stays free to answer
NATS pings and presence queries while a batch runs (lupa releases the GIL). A worker killed
mid-batch never answers; the decision service's request times out and another worker gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewinds.bus import codec, subjects
from tradewinds.bus.presence import Presence
from tradewinds.domain.trading import EvaluationReply, EvaluationRequest
from tradewinds.eval.book import Evaluator, StrategyBook
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.supervisor import SupervisedEvaluator

log = logging.getLogger("tradewinds.eval")


@dataclass(frozen=True)
class WorkerSettings:
    limits: Limits = field(default_factory=Limits)
    cache_size: int = 50_000  # compiled strategies kept (version, parameters, position)
    # Requests taken from NATS but not evaluated yet: beyond this the client's queue holds them.
    pending_limit: int = 1_000


class EvaluationWorker:
    """`start()`, then `stop()`; `engine` is accepted for symmetry with the other services."""

    def __init__(
        self,
        bus: Any,
        engine: Any = None,
        settings: WorkerSettings | None = None,
        make_evaluator: Callable[[], Evaluator] | None = None,
        name: str | None = None,
    ) -> None:
        self.bus = bus
        self.settings = settings or WorkerSettings()
        self.name = name or f"eval-{socket.gethostname()}-{os.getpid()}"
        limits = self.settings.limits
        self._make_evaluator: Callable[[], Evaluator] = make_evaluator or (
            lambda: SupervisedEvaluator(limits)
        )
        self._book: StrategyBook | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval")
        self._subscription: Any = None
        self.presence = Presence(bus, "eval", self.presence_stats, rates=("evaluations",))
        self.requests = 0
        self.failed_requests = 0
        self._busy_since: float | None = None
        self._started = time.monotonic()
        self._evaluations_at_start = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Start the evaluation process before taking work, so the first request is not slowed.
        self._book = await loop.run_in_executor(
            self._thread, lambda: StrategyBook(self._make_evaluator, self.settings.cache_size, self.name)
        )
        self._subscription = await self.bus.subscribe(
            subjects.EVAL_REQUESTS,
            queue=subjects.EVAL_QUEUE,
            cb=self._on_request,
            pending_msgs_limit=self.settings.pending_limit,
        )
        await self.bus.flush()
        await self.presence.start()
        log.info(
            "eval: %s takes requests on %s (queue group %s)",
            self.name,
            subjects.EVAL_REQUESTS,
            subjects.EVAL_QUEUE,
        )

    async def stop(self) -> None:
        """Stop taking requests, answer the ones already taken, then close the evaluator."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.drain()
            self._subscription = None
        await self.presence.stop()
        book = self._book
        if book is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, book.close)
        self._thread.shutdown(wait=True)
        log.info("eval: %s stopped after %d requests", self.name, self.requests)

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def _on_request(self, msg: Any) -> None:
        try:
            request = codec.decode(msg.data, EvaluationRequest)
        except msgspec.DecodeError as exc:
            self.failed_requests += 1
            log.warning(
                "eval: ignored a message on %s that is not an EvaluationRequest: %s", msg.subject, exc
            )
            return
        reply = await self.evaluate(request)
        if msg.reply:
            try:
                await msg.respond(codec.encode(reply))
            except Exception as exc:  # the connection dropped: the requester times out and retries
                log.warning("eval: could not answer request %s: %s", request.request_id, exc)

    async def evaluate(self, request: EvaluationRequest) -> EvaluationReply:
        assert self._book is not None, "start() the worker first"
        book = self._book
        self._busy_since = time.monotonic()
        try:
            reply = await asyncio.get_running_loop().run_in_executor(self._thread, book.evaluate, request)
        finally:
            self._busy_since = None
        self.requests += 1
        return reply

    def presence_stats(self) -> dict[str, int | float | str]:
        book = self._book
        evaluations = book.evaluations if book is not None else 0
        minutes = max((time.monotonic() - self._started) / 60.0, 1e-9)
        busy = self._busy_since
        return {
            "worker": self.name,
            "requests": self.requests,
            "evaluations": evaluations,
            "evaluations_per_minute": round(evaluations / minutes, 1),
            "strategies_cached": len(book) if book is not None else 0,
            "busy_ms": round((time.monotonic() - busy) * 1000.0) if busy is not None else 0,
            "errors": self.failed_requests + (book.restarts if book is not None else 0),
        }
