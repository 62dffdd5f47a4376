"""ExecutionService on a real nats-server and database, trading paper accounts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import nats
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.exchange.execution.helpers import make_intent, seed_assignment
from tradewinds.bus import codec, subjects
from tradewinds.domain.candles import Candle
from tradewinds.domain.ledger import replay
from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.trading import OrderEvent, OrderIntent, OrderIntents, client_order_id
from tradewinds.exchange.adapter import MarketInfo
from tradewinds.exchange.execution.executor import ExecutionSettings
from tradewinds.exchange.execution.service import ExecutionService, ServiceSettings
from tradewinds.storage.orders import fills_of_assignment, list_orders
from tradewinds.storage.trading_models import AssignmentRow, DecisionRow, OrderRow, UserRow

T = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
ALPHA = MarketInfo(
    "ALPHA/USD",
    "ALPHAUSD",
    "ALPHA",
    "USD",
    amount_precision=Decimal("0.00000001"),
    min_amount=Decimal("0.001"),
)
FAST = ServiceSettings(
    execution=ExecutionSettings(retry_delay_s=0.01, fill_wait_s=1.0, poll_interval_s=0.01), retry_delay_s=0.2
)


class Feed:
    name = "sim"

    async def list_markets(self) -> list[MarketInfo]:
        return [ALPHA]

    async def close(self) -> None:
        return None


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.drain()


async def wait_for(predicate: Callable[[], Any], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await predicate():  # noqa: ASYNC110 - the condition is in the database
            await asyncio.sleep(0.02)


async def publish_intent(bus: Any, intent: OrderIntent, msg_id: str | None = None) -> None:
    await bus.jetstream().publish(
        subjects.order_intents(intent.exchange),
        codec.encode(intent),
        headers={"Nats-Msg-Id": msg_id or intent.intent_id},
    )


async def price(bus: Any, minute_ms: int, close: float) -> None:
    candle = Candle(minute_ms, close, close, close, close, 1.0)
    await bus.publish(subjects.candle_updates("sim"), codec.encode(CandleUpdate("sim", "ALPHA/USD", candle)))
    await bus.flush()


async def test_each_decision_trades_once_and_the_slice_follows_the_fee_convention(
    engine: AsyncEngine, bus: Any
) -> None:
    assignment = await seed_assignment(engine, allocation="1000")
    events: list[OrderEvent] = []

    async def on_event(msg: Any) -> None:
        events.append(codec.decode(msg.data, OrderEvent))

    await bus.subscribe(subjects.order_events(assignment.user_id), cb=on_event)
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await price(bus, T, 100.0)
        long = make_intent(assignment, "long", T, 100.0)
        await publish_intent(bus, long)
        await publish_intent(bus, long, msg_id="a redelivery the stream does not recognise")

        async def one_filled() -> bool:
            orders = await list_orders(engine, assignment_id=assignment.id)
            return len(orders) == 1 and orders[0].status == "filled"

        await wait_for(one_filled)
        await asyncio.sleep(0.3)  # the repeat has been handled by now
        (order,) = await list_orders(engine, assignment_id=assignment.id)
        assert order.client_order_id == client_order_id(long.intent_id, 0)
        assert (order.side, order.amount, order.price) == ("buy", Decimal(10), Decimal(100))
        assert (order.fee, order.fee_currency) == (Decimal("0.01"), "ALPHA")
        book = replay(Decimal(1000), "ALPHA", "USD", await fills_of_assignment(engine, assignment.id))
        assert (book.base, book.quote) == (Decimal("9.99"), Decimal(0))  # C(1-f)/P

        await price(bus, T + 60_000, 110.0)
        short = make_intent(assignment, "short", T + 60_000, 110.0)
        await publish_intent(bus, short)

        async def sold() -> bool:
            orders = await list_orders(engine, assignment_id=assignment.id)
            return len(orders) == 2 and orders[1].status == "filled"

        await wait_for(sold)
        book = replay(Decimal(1000), "ALPHA", "USD", await fills_of_assignment(engine, assignment.id))
        assert book.base == 0
        assert book.quote == Decimal("9.99") * 110 * Decimal("0.999")  # U·P(1-f)
        await asyncio.sleep(0.1)
        # A paper order is recorded with its fill in one transaction: the account is the records.
        assert [(e.side, e.status.value) for e in events] == [("buy", "filled"), ("sell", "filled")]
    finally:
        await service.stop()


async def test_below_the_minimum_is_recorded_as_nothing_to_do(engine: AsyncEngine, bus: Any) -> None:
    assignment = await seed_assignment(engine, allocation="0.05")  # 0.0005 ALPHA at 100: below 0.001
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await publish_intent(bus, make_intent(assignment, "long", T, 100.0))

        async def noted() -> bool:
            return bool(await list_orders(engine, assignment_id=assignment.id))

        await wait_for(noted)
        (order,) = await list_orders(engine, assignment_id=assignment.id)
        assert order.status == "canceled" and order.filled == 0
        assert order.error is not None and order.error.startswith("nothing to do")
        assert "minimum order of 0.001 ALPHA" in order.error
        assert await fills_of_assignment(engine, assignment.id) == []
    finally:
        await service.stop()


async def test_a_paused_user_places_no_order(engine: AsyncEngine, bus: Any) -> None:
    assignment = await seed_assignment(engine)
    async with AsyncSession(engine) as session:
        await session.execute(update(UserRow).values(trading_paused=True))
        await session.commit()
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await publish_intent(bus, make_intent(assignment, "long", T, 100.0))

        async def noted() -> bool:
            return bool(await list_orders(engine, assignment_id=assignment.id))

        await wait_for(noted)
        (order,) = await list_orders(engine, assignment_id=assignment.id)
        assert (order.status, order.error) == ("canceled", "not placed: trading is paused for this user")
        assert await fills_of_assignment(engine, assignment.id) == []
    finally:
        await service.stop()


async def test_a_restart_continues_from_the_records_without_a_second_fill(
    engine: AsyncEngine, bus: Any
) -> None:
    """A crash after the pending row was written: the paper account (rebuilt from the fills) does not
    know the order, so it is sent once with the same client id; a filled one is never sent again."""
    one = await seed_assignment(engine, allocation="1000")
    async with AsyncSession(engine) as session:
        row = (await session.get(AssignmentRow, one.id)) or one
        session.add(
            AssignmentRow(
                user_id=row.user_id,
                version_id=row.version_id,
                account_id=row.account_id,
                exchange="sim",
                symbol="ALPHA/USD",
                timeframe="1m",
                allocation=Decimal(500),
                params="{}",
                enabled=True,
                target="short",
                consecutive_failures=0,
                created_ms=0,
                updated_ms=0,
            )
        )
        await session.commit()
    first = make_intent(one, "long", T, 100.0)
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    await price(bus, T, 100.0)
    await publish_intent(bus, first)

    async def filled() -> bool:
        orders = await list_orders(engine, assignment_id=one.id)
        return len(orders) == 1 and orders[0].status == "filled"

    await wait_for(filled)
    await service.stop()

    # The second assignment's order was written as pending, then the process died.
    two_id = one.id + 1
    second = make_intent(one, "long", T, 100.0)
    second = OrderIntent(
        **{
            **{f: getattr(second, f) for f in second.__struct_fields__},
            "assignment_id": two_id,
            "intent_id": f"{two_id}:{T}",
        }
    )
    async with AsyncSession(engine) as session:
        session.add(
            OrderRow(
                assignment_id=two_id,
                account_id=one.account_id,
                user_id=one.user_id,
                intent_id=second.intent_id,
                leg=0,
                client_order_id=client_order_id(second.intent_id, 0),
                cid_date="2023-11-14",
                exchange="sim",
                symbol="ALPHA/USD",
                side="buy",
                amount=Decimal(5),
                filled=Decimal(0),
                fee=Decimal(0),
                status="pending",
                candle_time_ms=T,
                created_ms=0,
                updated_ms=0,
            )
        )
        await session.commit()
    bus2 = await nats.connect(bus.connected_url.geturl())  # a new process has its own connection
    restarted = ExecutionService(bus2, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await restarted.start()
    try:
        await price(bus, T, 100.0)
        await publish_intent(bus, second)
        await publish_intent(bus, first, msg_id="first again, after the restart")

        async def second_filled() -> bool:
            orders = await list_orders(engine, assignment_id=two_id)
            return len(orders) == 1 and orders[0].status == "filled"

        try:
            await wait_for(second_filled, 5)
        except TimeoutError:
            raise AssertionError(await list_orders(engine)) from None
        await asyncio.sleep(0.3)
        assert len(await list_orders(engine, assignment_id=one.id)) == 1
        assert len(await fills_of_assignment(engine, one.id)) == 1
        assert len(await fills_of_assignment(engine, two_id)) == 1
        book = replay(Decimal(500), "ALPHA", "USD", await fills_of_assignment(engine, two_id))
        assert book.base == Decimal("4.995")
    finally:
        await restarted.stop()
        await bus2.close()


async def test_without_a_streamed_price_paper_fills_at_the_decision_close(
    engine: AsyncEngine, bus: Any
) -> None:
    """After a restart nothing may have been streamed yet: the decision candle's close is the price."""
    assignment = await seed_assignment(engine, allocation="1000")
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await price(bus, T - 60_000, 90.0)  # older than the decision candle: not used
        await publish_intent(bus, make_intent(assignment, "long", T, 125.0))

        async def filled() -> bool:
            orders = await list_orders(engine, assignment_id=assignment.id)
            return bool(orders) and orders[0].status == "filled"

        await wait_for(filled)
        (order,) = await list_orders(engine, assignment_id=assignment.id)
        assert (order.price, order.amount) == (Decimal(125), Decimal(8))
    finally:
        await service.stop()


async def test_an_older_decision_delivered_after_a_newer_one_places_nothing(
    engine: AsyncEngine, bus: Any
) -> None:
    assignment = await seed_assignment(engine, allocation="1000")
    async with AsyncSession(engine) as session:
        session.add(
            DecisionRow(
                assignment_id=assignment.id,
                intent_id=f"{assignment.id}:{T + 60_000}",
                candle_time_ms=T + 60_000,
                target="short",
                previous="long",
                candle_close=100.0,
                stale=False,
                created_ms=0,
            )
        )
        await session.commit()
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await publish_intent(bus, make_intent(assignment, "long", T, 100.0))

        async def noted() -> bool:
            return bool(await list_orders(engine, assignment_id=assignment.id))

        await wait_for(noted)
        (order,) = await list_orders(engine, assignment_id=assignment.id)
        assert order.status == "canceled" and order.error is not None
        assert order.error.startswith("not placed: superseded by the decision on the candle of")
        assert await fills_of_assignment(engine, assignment.id) == []
    finally:
        await service.stop()


async def test_a_market_no_longer_listed_is_recorded_and_not_retried(engine: AsyncEngine, bus: Any) -> None:
    assignment = await seed_assignment(engine, symbol="GONE/USD")
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await publish_intent(bus, make_intent(assignment, "long", T, 100.0))

        async def noted() -> bool:
            return bool(await list_orders(engine, assignment_id=assignment.id))

        await wait_for(noted)
        await asyncio.sleep(0.5)
        (order,) = await list_orders(engine, assignment_id=assignment.id)
        assert (order.status, order.error) == (
            "canceled",
            "not placed: sim no longer lists GONE/USD; no order can be placed",
        )
        assert service.counters.retried == 0
    finally:
        await service.stop()


async def test_one_message_of_a_close_s_intents_fills_each_once_and_is_acknowledged(
    engine: AsyncEngine, bus: Any
) -> None:
    first = await seed_assignment(engine, allocation="1000")
    second = await seed_assignment(engine, allocation="500", email="other@example.com")
    intents = [make_intent(first, "long", T, 100.0), make_intent(second, "long", T, 100.0)]
    bundle = OrderIntents(bundle_id="sim:ALPHA/USD:1m:test", intents=intents)
    service = ExecutionService(bus, engine, "sim", Feed(), settings=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        await price(bus, T, 100.0)
        js = bus.jetstream()
        for msg_id in ("bundle", "the same bundle again, as a redelivered close sends it"):
            await js.publish(
                subjects.order_intents("sim"), codec.encode(bundle), headers={"Nats-Msg-Id": msg_id}
            )

        async def acknowledged() -> bool:
            info = await js.consumer_info(subjects.ORDERS_STREAM, "execution-sim")
            return info.num_ack_pending == 0 and info.num_pending == 0

        await wait_for(acknowledged)
        orders = await list_orders(engine)
        assert sorted((o.assignment_id, o.status, o.amount) for o in orders) == [
            (first.id, "filled", Decimal(10)),
            (second.id, "filled", Decimal(5)),
        ]
    finally:
        await service.stop()
