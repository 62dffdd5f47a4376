"""Restart safety: while candles flow and strategies trade on paper, each component is killed with
-9 in turn (the core with its decision service, a worker, the exchange adapter with execution,
nats-server) and started again. Afterwards:

- no closed candle was skipped: every stored minute was published once to CANDLES, and the
  decision service's durable consumer acknowledged every close (it acknowledges only after the
  evaluations and decisions are recorded);
- no decision was executed twice and none was lost: every recorded decision has its orders (or
  was superseded before it was placed), no intent has two filled orders, no slice ever spent more
  quote or sold more base than it held;
- every assignment's position, replayed from its fills, is what it last decided.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import nats
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.e2e.processes import NatsServer, Processes, platform
from tests.e2e.processes import wait_until as _wait_until
from tradewinds.bus import codec, subjects
from tradewinds.domain.ledger import LedgerFill, replay
from tradewinds.domain.messages import ClosedCandle
from tradewinds.storage.accounts import add_paper_account
from tradewinds.storage.assignments import add_assignment
from tradewinds.storage.database import create_engine
from tradewinds.storage.strategies import save_strategy
from tradewinds.storage.trading_models import AssignmentRow, DecisionRow, FillRow, OrderRow
from tradewinds.storage.users import add_user

pytestmark = pytest.mark.slow

PAIRS = ("ALPHA/USD", "BRAVO/USD", "CHARLIE/USD")
FAST_CROSS = (
    "local f = ta.ema(param('fast', 3)) local s = ta.ema(param('slow', 8))\n"
    'if f() > s() then return "long" else return "short" end'
)
ALLOCATION = Decimal(1_000)


def wait_until(processes: Processes, what: str, condition: Callable[[], bool], within: float) -> None:
    _wait_until(processes, what, condition, within, every=0.5)  # the condition reads the database


@pytest.fixture
def processes(tmp_path: Path, nats_server_in_place: NatsServer) -> Iterator[Processes]:
    yield from platform(tmp_path, nats_server_in_place.url)


async def seed(url: str) -> None:
    engine = create_engine(url)
    try:
        user = await add_user(engine, "restarts@example.com", "a long enough password")
        await save_strategy(engine, user, "fast-cross", FAST_CROSS)
        await add_paper_account(engine, user, "paper", {"USD": ALLOCATION * 2 * len(PAIRS)})
        for symbol in PAIRS:
            for fast, slow in ((2, 5), (3, 8)):
                await add_assignment(
                    engine, user, strategy="fast-cross", exchange="sim", symbol=symbol, timeframe="1m",
                    account="paper", allocation=ALLOCATION, params={"fast": fast, "slow": slow},
                )  # fmt: skip
    finally:
        await engine.dispose()


async def records(url: str) -> tuple[list[AssignmentRow], list[DecisionRow], list[OrderRow], list[FillRow]]:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return (
                list((await session.scalars(select(AssignmentRow))).all()),
                list((await session.scalars(select(DecisionRow))).all()),
                list((await session.scalars(select(OrderRow))).all()),
                list((await session.scalars(select(FillRow).order_by(FillRow.time_ms, FillRow.id))).all()),
            )
    finally:
        await engine.dispose()


def filled_orders(url: str) -> int:
    return sum(1 for o in asyncio.run(records(url))[2] if o.status == "filled")


async def stream_state(url: str) -> tuple[list[ClosedCandle], int, int, int]:
    """Every close CANDLES holds, and the decision consumer's pending, unacknowledged and last
    delivered stream sequence."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        info = await js.stream_info(subjects.CANDLES_STREAM)
        closes = [
            codec.decode((await js.get_msg(subjects.CANDLES_STREAM, seq)).data or b"", ClosedCandle)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]
        consumer = await js.consumer_info(subjects.CANDLES_STREAM, "decisions")
        assert consumer.delivered is not None and consumer.num_pending is not None
        last = info.state.last_seq - consumer.delivered.stream_seq
        return closes, consumer.num_pending, consumer.num_ack_pending or 0, last
    finally:
        await client.close()


async def intents_state(url: str) -> tuple[int, int]:
    """The execution consumer's pending and unacknowledged intents (it acknowledges an intent only
    once its outcome is recorded: orders placed, or nothing to do)."""
    client = await nats.connect(url)
    try:
        consumer = await client.jetstream().consumer_info(subjects.ORDERS_STREAM, "execution-sim")
        return consumer.num_pending or 0, consumer.num_ack_pending or 0
    finally:
        await client.close()


def test_killing_each_component_loses_and_doubles_nothing(
    processes: Processes, nats_server_in_place: NatsServer
) -> None:
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    asyncio.run(seed(url))
    exchange_args = ("exchange", "sim", "--pairs", "3", "--speed", "30", "--catch-up", "2")
    processes.start("core", "core", "--grace", "1")
    processes.start("eval-1", "eval")
    processes.start("eval-2", "eval")
    wait_until(processes, "the core", lambda: "core: listening on" in processes.log("core"), 60)
    processes.start("exchange", *exchange_args)
    wait_until(processes, "the first filled orders", lambda: filled_orders(url) >= 3, 120)

    def kill_and_restart(name: str, *args: str) -> None:
        before = filled_orders(url)
        process = processes.running[name]
        process.send_signal(signal.SIGKILL)
        process.wait()
        processes.start(name, *args)
        wait_until(
            processes, f"trading to go on after {name} was killed", lambda: filled_orders(url) > before, 120
        )

    kill_and_restart("core", "core", "--grace", "1")
    kill_and_restart("eval-1", "eval")
    kill_and_restart("exchange", *exchange_args)
    nats_server_in_place.kill()
    time.sleep(1.0)
    nats_server_in_place.start()
    before = filled_orders(url)
    wait_until(
        processes, "trading to go on after nats-server was killed", lambda: filled_orders(url) > before, 120
    )

    # Stop the candles; the core decides on what it closed, then stops. A close it published while
    # stopping may be left unacknowledged by its decision service: a core started again takes it
    # (then is killed, so it publishes nothing more). The adapter (which also executes) is started
    # once more, without catch-up, to execute the decisions made after it stopped.
    assert processes.stop("exchange") == 0, processes.log("exchange")
    time.sleep(8)
    assert processes.stop("core") == 0, processes.log("core")
    processes.running.pop("exchange")  # stopped on purpose: no longer watched by check_alive
    processes.running.pop("core")
    processes.start("core-again", "core", "--grace", "1")

    def closes_decided() -> bool:
        _, pending, unacked, undelivered = asyncio.run(stream_state(nats_server_in_place.url))
        return (pending, unacked, undelivered) == (0, 0, 0)

    wait_until(
        processes, "the core to start", lambda: "core: listening on" in processes.log("core-again"), 60
    )
    time.sleep(5)
    wait_until(processes, "every close to be decided on", closes_decided, 60)
    processes.running["core-again"].kill()
    processes.running["core-again"].wait()
    for name in ("eval-1", "eval-2"):
        assert processes.stop(name) == 0, processes.log(name)
    for name in ("core-again", "eval-1", "eval-2"):
        processes.running.pop(name)
    processes.start("execute", "exchange", "sim", "--pairs", "3", "--speed", "1")

    def all_executed() -> bool:
        pending, unacked = asyncio.run(intents_state(nats_server_in_place.url))
        return pending == 0 and unacked == 0

    wait_until(
        processes, "the adapter to execute", lambda: "executing order intents" in processes.log("execute"), 60
    )
    wait_until(processes, "every intent to be executed and acknowledged", all_executed, 60)
    assert processes.stop("execute") == 0, processes.log("execute")

    closes, pending, unacked, undelivered = asyncio.run(stream_state(nats_server_in_place.url))
    assignments, decisions, orders, fills = asyncio.run(records(url))

    # No closed candle skipped: each close published once, and every one decided on and acknowledged.
    keys = [(c.symbol, c.timeframe, c.candle.time) for c in closes]
    assert len(keys) == len(set(keys))
    assert (pending, unacked, undelivered) == (0, 0, 0), processes.logs()
    newest = {s: max(c.candle.time for c in closes if c.symbol == s and c.timeframe == "1m") for s in PAIRS}
    for a in assignments:
        assert a.last_eval_candle_ms == newest[a.symbol], (a.id, a.last_eval_candle_ms, newest[a.symbol])

    # No decision lost or doubled: every intent was executed and acknowledged (above), none has
    # two filled orders, and none left an order pending or failed. (A decision can rightly place
    # nothing: going short after its buy was superseded before it was placed.)
    live = [d for d in decisions if not d.stale]
    assert len(live) >= 6  # trading went on across every kill (each wait saw a new fill)
    filled_per_intent = Counter(o.intent_id for o in orders if o.status == "filled")
    assert max(filled_per_intent.values()) == 1
    assert {o.status for o in orders} <= {"filled", "canceled"}, Counter(o.status for o in orders)

    # Every position replayed from the fills is the last decision, and no slice went negative.
    for a in assignments:
        mine = [
            LedgerFill(f.side, f.amount, f.price, f.fee, f.fee_currency, f.time_ms)
            for f in fills
            if f.assignment_id == a.id
        ]
        for count in range(1, len(mine) + 1):
            book = replay(a.allocation, *a.symbol.split("/"), mine[:count])
            assert book.quote >= 0 and book.base >= 0, (a.id, count, book)
        book = replay(a.allocation, *a.symbol.split("/"), mine)
        holds = "long" if book.base > Decimal("1e-6") else "short"  # a rounded sale leaves dust
        assert holds == a.target, (a.id, book, a.target)
