"""EvaluationWorker on a real nats-server: the queue group, replies, and a free event loop."""

from __future__ import annotations

import asyncio
import time

import nats

from tests.eval.helpers import KEEP, LONG_ABOVE_SMA, item, request, rising
from tradewinds.bus import codec, subjects
from tradewinds.domain.trading import EvaluationOutcome, EvaluationReply
from tradewinds.eval.worker import EvaluationWorker
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.live import LiveEvaluator

SLOW = "local x = 0 for i = 1, 2e7 do x = x + i end return nil"  # about 0.1 s with the JIT off


async def test_workers_share_requests_and_answer_each_once(nats_url: str) -> None:
    clients = [await nats.connect(nats_url) for _ in range(3)]
    workers = [
        EvaluationWorker(nc, make_evaluator=LiveEvaluator, name=f"w{k}") for k, nc in enumerate(clients[:2])
    ]
    try:
        for worker in workers:
            await worker.start()
        asker = clients[2]
        replies = []
        for n in range(40):
            msg = await asker.request(
                subjects.EVAL_REQUESTS,
                codec.encode(request(rising(20 + n), item(1, LONG_ABOVE_SMA), item(2, KEEP))),
                timeout=10,
            )
            replies.append(codec.decode(msg.data, EvaluationReply))
        assert all(r.results[0].outcome is EvaluationOutcome.DECIDED for r in replies)
        assert all(r.results[1].outcome is EvaluationOutcome.KEPT for r in replies)
        served = {r.worker for r in replies}
        assert served == {"w0", "w1"}, served
        assert sum(w.requests for w in workers) == 40
    finally:
        for worker in workers:
            await worker.stop()
        for nc in clients:
            await nc.close()


async def test_the_event_loop_answers_while_a_batch_runs(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    worker = EvaluationWorker(nc, make_evaluator=lambda: LiveEvaluator(Limits(time_ms=5_000)), name="slow")
    await worker.start()
    try:
        slow = request(rising(10), *[item(k, SLOW + " " * k, version_id=k) for k in range(1, 9)])
        started = time.monotonic()
        pending = asyncio.ensure_future(nc.request(subjects.EVAL_REQUESTS, codec.encode(slow), timeout=30))
        await asyncio.sleep(0.05)
        ticks = 0
        while not pending.done():
            before = time.monotonic()
            await nc.flush(timeout=1)  # a PING/PONG round trip through this loop
            assert time.monotonic() - before < 0.2
            ticks += 1
            await asyncio.sleep(0.01)
        reply = codec.decode((await pending).data, EvaluationReply)
        assert [r.outcome for r in reply.results] == [EvaluationOutcome.KEPT] * 8
        assert ticks >= 3, f"the batch took {time.monotonic() - started:.2f} s and only {ticks} pings ran"
    finally:
        await worker.stop()
        await nc.close()


async def test_a_message_that_is_not_a_request_is_ignored(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    worker = EvaluationWorker(nc, make_evaluator=LiveEvaluator)
    await worker.start()
    try:
        await nc.publish(subjects.EVAL_REQUESTS, b"\x93garbage")
        msg = await nc.request(
            subjects.EVAL_REQUESTS, codec.encode(request(rising(5), item(1, KEEP))), timeout=10
        )
        assert codec.decode(msg.data, EvaluationReply).results[0].outcome is EvaluationOutcome.KEPT
        assert worker.failed_requests == 1
    finally:
        await worker.stop()
        await nc.close()


async def test_supervised_by_default_and_reports_presence(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    worker = EvaluationWorker(nc, name="sup")
    await worker.start()
    try:
        msg = await nc.request(
            subjects.EVAL_REQUESTS, codec.encode(request(rising(30), item(1, LONG_ABOVE_SMA))), timeout=30
        )
        reply = codec.decode(msg.data, EvaluationReply)
        assert reply.results[0].target == "long"
        stats = worker.presence_stats()
        assert stats["requests"] == 1 and stats["evaluations"] == 1 and stats["strategies_cached"] == 1
    finally:
        await worker.stop()
        await nc.close()
