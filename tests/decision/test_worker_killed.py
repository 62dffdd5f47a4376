"""Two `tradewinds eval` processes; one is killed with -9 while it evaluates a slow batch. The
decision service's request times out, goes to the other worker, and no evaluation is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from tests.decision.world import World, publish_close, rising_candles
from tradewinds.bus import subjects
from tradewinds.bus.presence import query_presence
from tradewinds.core.decision.service import DecisionService, DecisionSettings
from tradewinds.domain.trading import OrderIntent
from tradewinds.eval.window_sizer import WindowSizer
from tradewinds.exchange.execution.delivery import decode_intents
from tradewinds.storage.database import create_engine

pytestmark = pytest.mark.slow

# About 0.15 s each with the JIT off: a batch of 8 takes over a second.
SLOW = (
    "local x = 0 for i = 1, 3e7 do x = x + i end\n"
    'if close() > ta.sma(3)() then return "long" end return "short"'
)


def start_worker(env: dict[str, str], folder: Path, name: str) -> subprocess.Popen[bytes]:
    log = (folder / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "tradewinds.cli", "eval", "--name", name, "--time-limit", "5000"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


async def test_a_worker_killed_mid_batch_loses_no_evaluation(
    database_url: str, nats_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "TRADEWINDS_NATS_URL": nats_url, "TRADEWINDS_HOME": str(tmp_path / "home")}
    workers = {name: start_worker(env, tmp_path, name) for name in ("w1", "w2")}
    engine = create_engine(database_url)
    nc = await nats.connect(nats_url)
    sizer = WindowSizer()
    service: DecisionService | None = None
    intents: list[OrderIntent] = []

    async def on_intent(msg: object) -> None:
        intents.extend(decode_intents(msg.data))  # type: ignore[attr-defined]

    try:
        await nc.subscribe(subjects.ALL_ORDER_INTENTS, cb=on_intent)
        world = await World.make(engine)
        ids = [await world.assign(f"slow{k}", SLOW + f" -- {k}") for k in range(8)]
        candles = rising_candles(30)
        await world.store(candles)
        for _ in range(300):
            evals = [a for a in await query_presence(nc, wait_s=0.2) if a.component == "eval"]
            if len(evals) == 2:
                break
            for name, process in workers.items():
                assert process.poll() is None, (tmp_path / f"{name}.log").read_text()
        else:
            raise AssertionError("the two workers did not announce themselves")
        service = DecisionService(nc, engine, DecisionSettings(request_timeout_s=4.0), sizer=sizer)
        await service.start()
        await publish_close(nc, candles[-1])

        killed = None
        for _ in range(200):  # find the worker that took the batch, and kill it mid-way
            busy = [
                a
                for a in await query_presence(nc, wait_s=0.1)
                if a.component == "eval" and int(a.stats["busy_ms"]) > 0
            ]
            if busy:
                killed = str(busy[0].stats["worker"])
                os.kill(busy[0].pid, signal.SIGKILL)
                break
        assert killed is not None, "no worker was seen evaluating the batch"
        workers[killed].wait(timeout=10)

        async def all_evaluated() -> bool:
            rows = [await world.assignment(i) for i in ids]
            return all(r.last_eval_candle_ms == candles[-1].time for r in rows)

        for _ in range(600):
            if await all_evaluated():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the batch was not evaluated after the worker died")
        rows = [await world.assignment(i) for i in ids]
        assert {r.last_eval_outcome for r in rows} == {"decided"}
        assert service.counters.retries >= 1
        await asyncio.sleep(0.3)
        assert sorted(i.assignment_id for i in intents) == sorted(ids)  # each decided once
        assert len(await world.decisions()) == len(ids)
    finally:
        if service is not None:
            await service.stop()
        sizer.close()
        await nc.close()
        await engine.dispose()
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
