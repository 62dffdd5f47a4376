"""Execution end to end, as processes: `tradewinds exchange bitfinex` (and `sim`) consuming order
intents from JetStream, trading on the fake Bitfinex (a thread of this test process) or on paper,
recording into SQLite; killed with -9 in the middle of a trade and started again.

What must hold: no decision executed twice (each leg's client order id reaches the exchange's
books once), no order lost (every intent ends with its outcome recorded), and every assignment's
recorded position equals what the exchange says was filled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession

from tests.e2e.processes import Processes, platform, wait_until
from tests.e2e.test_bitfinex_processes import ServedFake
from tests.exchange.execution.helpers import make_intent, seed_assignment
from tradewinds.bus import codec, streams, subjects
from tradewinds.domain.ledger import replay
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.domain.trading import OrderIntent
from tradewinds.storage.database import create_engine
from tradewinds.storage.orders import OrderRecord, fills_of_assignment, list_orders
from tradewinds.storage.secrets import SecretBox
from tradewinds.storage.trading_models import AssignmentRow

pytestmark = pytest.mark.slow
API_KEY, API_SECRET = "e2e-key", "e2e-secret"
SECRET_KEY = Fernet.generate_key().decode()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def publish(nats_url: str, intents: list[OrderIntent], suffix: str = "") -> None:
    """Publish intents on JetStream (a suffix makes a new message id: a redelivered decision)."""

    async def go() -> None:
        client = await nats.connect(nats_url)
        try:
            js = client.jetstream()
            await streams.ensure_stream(js, streams.ORDERS)
            for intent in intents:
                headers = {"Nats-Msg-Id": intent.intent_id + suffix}
                await js.publish(
                    subjects.order_intents(intent.exchange), codec.encode(intent), headers=headers
                )
        finally:
            await client.close()

    run(go())


def orders(url: str) -> list[OrderRecord]:
    async def read() -> list[OrderRecord]:
        engine = create_engine(url)
        try:
            return await list_orders(engine)
        finally:
            await engine.dispose()

    result: list[OrderRecord] = run(read())
    return result


def base_held(url: str, assignment: AssignmentRow, base: str, quote: str) -> Decimal:
    async def read() -> Decimal:
        engine = create_engine(url)
        try:
            fills = await fills_of_assignment(engine, assignment.id)
            return replay(assignment.allocation, base, quote, fills).base
        finally:
            await engine.dispose()

    result: Decimal = run(read())
    return result


def settled(url: str, intents: list[OrderIntent]) -> bool:
    """Every intent has its outcome recorded: orders, none of them still in flight."""
    recorded = orders(url)
    done = {o.intent_id for o in recorded if o.status not in ("pending", "open")}
    in_flight = [o for o in recorded if o.status in ("pending", "open")]
    return not in_flight and all(i.intent_id in done for i in intents)


def seed(url: str, count: int, **options: Any) -> list[AssignmentRow]:
    """`count` assignments on one account (allocations 1000, 2000, ...)."""

    async def go() -> list[AssignmentRow]:
        engine = create_engine(url)
        try:
            first = await seed_assignment(engine, allocation="1000", **options)
            made = [first]
            async with AsyncSession(engine, expire_on_commit=False) as session:
                for n in range(2, count + 1):
                    row = AssignmentRow(
                        user_id=first.user_id,
                        version_id=first.version_id,
                        account_id=first.account_id,
                        exchange=first.exchange,
                        symbol=first.symbol,
                        timeframe="1m",
                        allocation=Decimal(1000 * n),
                        params="{}",
                        enabled=True,
                        target="short",
                        consecutive_failures=0,
                        created_ms=0,
                        updated_ms=0,
                    )
                    session.add(row)
                    made.append(row)
                await session.commit()
            return made
        finally:
            await engine.dispose()

    result: list[AssignmentRow] = run(go())
    return result


@pytest.fixture
def processes(tmp_path: Path, nats_url: str, fake: ServedFake) -> Iterator[Processes]:
    yield from platform(
        tmp_path, nats_url, extra_env={**fake.server.env(), "TRADEWINDS_SECRET_KEY": SECRET_KEY}
    )


def test_bitfinex_kill_9_mid_trade_executes_no_decision_twice(
    processes: Processes, fake: ServedFake, nats_url: str
) -> None:
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    server = fake.server

    def prepare() -> None:
        server.add_account(API_KEY, API_SECRET)
        server.set_wallet(API_KEY, "USD", "10000")
        server.set_price("tBTCUSD", "20000")
        server.reply_delay_s = 8.0  # the first order executes, and its reply hangs

    fake.call(prepare)
    box = SecretBox([SECRET_KEY.encode()], "test")
    assignments = seed(url, 3, exchange="bitfinex", symbol="BTC/USD", keys=(box, API_KEY, API_SECRET))
    minute = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS - MINUTE_MS
    longs = [make_intent(a, "long", minute, 20000.0) for a in assignments]

    processes.start("exchange", "exchange", "bitfinex", "--symbols", "BTC/USD")
    wait_until(
        processes, "execution to start", lambda: "executing order intents" in processes.log("exchange")
    )
    publish(nats_url, longs)
    wait_until(
        processes, "an order to execute", lambda: bool(fake.call(lambda: server.executed_orders(API_KEY)))
    )
    processes.running["exchange"].kill()  # -9, with the reply still on its way
    processes.running["exchange"].wait()
    assert [o.status for o in orders(url)] == ["pending"]  # written before it was sent

    fake.call(lambda: setattr(server, "reply_delay_s", 0.0))
    processes.start("exchange", "exchange", "bitfinex", "--symbols", "BTC/USD")
    wait_until(processes, "every intent settled", lambda: settled(url, longs))
    publish(nats_url, longs, suffix=":again")  # redelivered decisions change nothing
    shorts = [make_intent(a, "short", minute + MINUTE_MS, 20000.0) for a in assignments]
    publish(nats_url, shorts)
    wait_until(processes, "the sells settled", lambda: settled(url, [*longs, *shorts]))
    time.sleep(1.0)

    recorded = orders(url)
    executed = fake.call(lambda: server.executed_orders(API_KEY))
    cids = [row[2] for row in executed]
    assert len(cids) == len(set(cids)), "a client order id reached the exchange twice"
    filled = [o for o in recorded if o.status == "filled"]
    assert sorted(int(o.exchange_order_id or 0) for o in filled) == sorted(row[0] for row in executed)
    assert sorted(o.client_order_id for o in filled) == sorted(cids)
    # Positions recorded equal what the exchange filled: all sold again, BTC wallet = the dust left.
    held = sum(base_held(url, a, "BTC", "USD") for a in assignments)
    wallet = fake.call(lambda: server.accounts[API_KEY].wallets[("exchange", "BTC")][0])
    assert held == wallet
    assert any(o.intent_id == longs[0].intent_id and o.status == "filled" for o in recorded)
    assert "reconciled order 1" in processes.log("exchange")


def test_paper_account_on_the_sim_continues_exactly_after_kill_9(processes: Processes, nats_url: str) -> None:
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    (one, two) = seed(url, 2, exchange="sim", symbol="ALPHA/USD", paper_balances={"USD": "5000"})
    minute = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS - MINUTE_MS
    processes.start("sim", "exchange", "sim", "--pairs", "2")
    wait_until(processes, "execution to start", lambda: "executing order intents" in processes.log("sim"))

    first = make_intent(one, "long", minute, 100.0)
    publish(nats_url, [first])
    wait_until(processes, "the first buy", lambda: settled(url, [first]))
    processes.running["sim"].kill()
    processes.running["sim"].wait()

    processes.start("sim", "exchange", "sim", "--pairs", "2")
    wait_until(
        processes, "execution to start again", lambda: processes.log("sim").count("executing order") == 2
    )
    later = [make_intent(two, "long", minute, 100.0), make_intent(one, "short", minute + MINUTE_MS, 110.0)]
    publish(nats_url, [first], suffix=":again")
    publish(nats_url, later)
    wait_until(processes, "the later intents", lambda: settled(url, [first, *later]))
    recorded = orders(url)
    buys_of_one = [
        o for o in recorded if o.assignment_id == one.id and o.side == "buy" and o.status == "filled"
    ]
    assert len(buys_of_one) == 1  # the redelivered decision did not trade again
    assert base_held(url, one, "ALPHA", "USD") < Decimal("0.000001")  # sold what it held
    assert base_held(url, two, "ALPHA", "USD") > 0
    # The sell after the restart was sized from the records: all the base the buy left (fee taken).
    (sell,) = [o for o in recorded if o.assignment_id == one.id and o.side == "sell"]
    (buy,) = buys_of_one
    assert sell.status == "filled" and buy.fee_currency == "ALPHA"
    assert sell.amount == ((buy.filled - buy.fee) / Decimal("0.000001")).to_integral_value(
        rounding="ROUND_DOWN"
    ) * Decimal("0.000001")
