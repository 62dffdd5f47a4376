"""Evaluation through the bus: 200 markets x 50 assignments (10,000 strategies) per close, sent
as 200 `EvaluationRequest`s to `tradewinds eval` worker processes, as the decision service does.

Prints, per worker count, the time from sending the 200 requests to the last reply (p50/p99 of
one request's round trip, too) and evaluations per second, after one warm-up round that compiles
the strategies. Run: .venv/bin/python benchmarks/evaluate_bus.py [--workers 1,2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import strategy, window
from tradewinds.bus import codec, subjects
from tradewinds.bus.presence import query_presence
from tradewinds.bus.server import EmbeddedNatsServer
from tradewinds.domain.trading import EvaluationItem, EvaluationReply, EvaluationRequest
from tradewinds.eval.window_codec import encode_window

MARKETS = 200
PER_MARKET = 50


def requests(round_no: int) -> list[EvaluationRequest]:
    columns = encode_window(window())
    out = []
    for m in range(MARKETS):
        items = []
        for k in range(PER_MARKET):
            i = m * PER_MARKET + k
            _, source = strategy(i)
            items.append(EvaluationItem(i + 1, i + 1, source, {}, "short"))
        out.append(EvaluationRequest(f"r{round_no}-{m}", "bench", f"M{m}/USD", "1m", 0, columns, items))
    return out


async def one_round(nc: nats.NATS, round_no: int) -> tuple[float, list[float], int]:
    batch = [codec.encode(r) for r in requests(round_no)]

    async def ask(data: bytes) -> tuple[float, int]:
        started = time.perf_counter()
        msg = await nc.request(subjects.EVAL_REQUESTS, data, timeout=300)
        reply = codec.decode(msg.data, EvaluationReply)
        return time.perf_counter() - started, len(reply.results)

    started = time.perf_counter()
    answers = await asyncio.gather(*(ask(d) for d in batch))
    return time.perf_counter() - started, [a[0] for a in answers], sum(a[1] for a in answers)


async def measure(url: str, workers: int, rounds: int) -> None:
    nc = await nats.connect(url)
    for _ in range(600):
        if len([a for a in await query_presence(nc, 0.2) if a.component == "eval"]) == workers:
            break
    await one_round(nc, 0)  # compile everything on every worker the requests reach
    await one_round(nc, 1)
    walls, trips, evaluations = [], [], 0
    for r in range(rounds):
        wall, rtts, count = await one_round(nc, 2 + r)
        walls.append(wall)
        trips.extend(rtts)
        evaluations += count
    await nc.close()
    ms = np.array(trips) * 1000
    print(
        f"{workers} worker(s): 10,000 evaluations in {np.median(walls) * 1000:.0f} ms (median of {rounds}); "
        f"request round trip p50 {np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms; "
        f"{evaluations / sum(walls):,.0f} evaluations/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("tradewinds.presence").setLevel(
        logging.ERROR
    )  # no-responder answers while workers start
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedNatsServer(Path(folder) / "nats")
        server.start()
        env = {**os.environ, "TRADEWINDS_NATS_URL": server.url, "TRADEWINDS_HOME": folder}
        try:
            for count in [int(w) for w in args.workers.split(",")]:
                procs = [
                    subprocess.Popen(
                        [sys.executable, "-m", "tradewinds.cli", "eval"], env=env, stderr=subprocess.DEVNULL
                    )
                    for _ in range(count)
                ]
                try:
                    asyncio.run(measure(server.url, count, args.rounds))
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        p.wait(timeout=30)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
