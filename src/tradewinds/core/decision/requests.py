"""One close's EvaluationRequest, sent until a worker answers it.

A request that times out (the worker died mid-batch, or none is running) is sent again with a
longer timeout each time. `nats request` makes a new inbox per attempt, so the late answer to an
abandoned attempt is dropped; a reply naming another request is ignored. While it waits, the
close's JetStream message is kept in progress so that it is not delivered again meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors

from tradewinds.bus import codec, subjects
from tradewinds.domain.trading import EvaluationReply, EvaluationRequest

log = logging.getLogger("tradewinds.decision")


@dataclass(frozen=True)
class Patience:
    timeout_s: float  # first attempt; doubles per retry, up to timeout_max_s
    timeout_max_s: float
    no_worker_wait_s: float  # after "no responders", doubling up to 10 s


async def request_evaluation(
    bus: Any,
    request: EvaluationRequest,
    msg: Any,
    patience: Patience,
    on_retry: Callable[[], None],
    stopping: Callable[[], bool],
) -> EvaluationReply:
    data = codec.encode(request)
    timeout, wait = patience.timeout_s, patience.no_worker_wait_s
    while True:
        if msg is not None:
            with contextlib.suppress(Exception):
                await msg.in_progress()  # keep JetStream from redelivering meanwhile
        try:
            answer = await bus.request(subjects.EVAL_REQUESTS, data, timeout=timeout)
            reply = codec.decode(answer.data, EvaluationReply)
            if reply.request_id == request.request_id:
                return reply
            log.warning(
                "decision: ignored a reply to request %s (expected %s)", reply.request_id, request.request_id
            )
        except nats.errors.NoRespondersError:
            log.warning("decision: no evaluation worker is running; %s waits", describe_request(request))
            await asyncio.sleep(wait)
            wait = min(wait * 2, 10.0)
        except (TimeoutError, nats.errors.TimeoutError):
            on_retry()
            described = describe_request(request)
            log.warning("decision: no answer to %s within %.0f s; sending it again", described, timeout)
            timeout = min(timeout * 2, patience.timeout_max_s)
        except msgspec.DecodeError as exc:
            on_retry()
            log.warning("decision: a worker answered something that is not an EvaluationReply: %s", exc)
        if stopping():
            raise RuntimeError("stopping: the close is left for the next start")


def describe_request(request: EvaluationRequest) -> str:
    market = f"{request.exchange} {request.symbol} {request.timeframe}"
    return f"the evaluation of {len(request.items)} assignments on {market}"
