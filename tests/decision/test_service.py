"""DecisionService on a real nats-server with an evaluation worker and a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import nats
import pytest

from tests.decision.world import (
    ALWAYS_FAILS,
    LONG_WHEN_RISING,
    SERIES,
    SYMBOL,
    M,
    World,
    publish_close,
    rising_candles,
)
from tradewinds.bus import codec, subjects
from tradewinds.core.decision.service import DecisionService, DecisionSettings
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.trading import AssignmentChanged, MarketsWanted, OrderIntent
from tradewinds.eval.window_sizer import WindowSizer
from tradewinds.eval.worker import EvaluationWorker
from tradewinds.exchange.execution.delivery import decode_intents
from tradewinds.storage.database import create_engine
from tradewinds.strategy.live import LiveEvaluator


@pytest.fixture(scope="module")
def sizer() -> WindowSizer:
    sizer = WindowSizer()
    yield sizer  # type: ignore[misc]
    sizer.close()


@dataclass
class Rig:
    nc: nats.NATS
    world: World
    service: DecisionService
    worker: EvaluationWorker
    intents: list[OrderIntent]
    markets: list[MarketsWanted]

    async def until(self, check: Callable[[], Awaitable[bool]], what: str, within_s: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def evaluated_at(self, assignment_id: int, candle_ms: int) -> None:
        async def done() -> bool:
            row = await self.world.assignment(assignment_id)
            return row.last_eval_candle_ms == candle_ms

        await self.until(done, f"assignment {assignment_id} evaluated at {candle_ms}")


@pytest.fixture
async def rig(database_url: str, nats_url: str, sizer: WindowSizer) -> AsyncIterator[Rig]:
    engine = create_engine(database_url)
    nc = await nats.connect(nats_url)
    world = await World.make(engine)
    intents: list[OrderIntent] = []
    markets: list[MarketsWanted] = []

    async def on_intent(msg: object) -> None:
        intents.extend(decode_intents(msg.data))  # type: ignore[attr-defined]

    async def on_markets(msg: object) -> None:
        markets.append(codec.decode(msg.data, MarketsWanted))  # type: ignore[attr-defined]

    await nc.subscribe(subjects.ALL_ORDER_INTENTS, cb=on_intent)
    await nc.subscribe(subjects.markets_wanted("sim"), cb=on_markets)
    worker = EvaluationWorker(nc, make_evaluator=LiveEvaluator, name="w")
    await worker.start()
    settings = DecisionSettings(max_failures=3, request_timeout_s=2.0, reload_seconds=30.0)
    service = DecisionService(nc, engine, settings, sizer=sizer)
    try:
        yield Rig(nc, world, service, worker, intents, markets)
    finally:
        await service.stop()
        await worker.stop()
        await nc.close()
        await engine.dispose()


async def test_a_fresh_close_decides_records_and_publishes_the_intent(rig: Rig) -> None:
    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    await world.store(candles)
    await rig.service.start()
    await publish_close(rig.nc, candles[-1])
    await rig.evaluated_at(a, candles[-1].time)
    await rig.until(lambda: _true(len(rig.intents) == 1), "the intent")
    intent = rig.intents[0]
    assert (intent.assignment_id, intent.target, intent.candle_time_ms) == (a, "long", candles[-1].time)
    assert intent.intent_id == f"{a}:{candles[-1].time}"
    assert intent.candle_close == candles[-1].close and intent.exchange == "sim" and intent.symbol == SYMBOL
    assert intent.user_id == world.user.id
    row = await world.assignment(a)
    assert (row.target, row.last_eval_outcome, row.last_eval_target) == ("long", "decided", "long")
    [decision] = await world.decisions()
    assert (decision.target, decision.previous, decision.stale) == ("long", "short", False)

    # The next close decides "long" again: the target holds, nothing new to trade.
    later = [Candle(candles[-1].time + M, 200.0, 200.5, 199.5, 200.0, 1.0)]
    await world.store(later)
    await publish_close(rig.nc, later[0])
    await rig.evaluated_at(a, later[0].time)
    await asyncio.sleep(0.2)
    assert len(rig.intents) == 1
    assert len(await world.decisions()) == 1
    # JetStream kept the intent for the adapter
    info = await rig.nc.jetstream().stream_info(subjects.ORDERS_STREAM)
    assert info.state.messages == 1


async def test_a_stale_close_is_recorded_and_places_no_order(rig: Rig) -> None:
    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(40)
    await world.store(candles)  # the exchange's clock: the end of the 40th minute
    await rig.service.start()
    old = candles[30]  # closed 9 minutes before the newest: a backfill after an outage
    await publish_close(rig.nc, old)
    await rig.evaluated_at(a, old.time)
    row = await world.assignment(a)
    assert row.last_eval_outcome == "stale" and row.target == "short"
    [decision] = await world.decisions()
    assert decision.stale and decision.target == "long"
    await asyncio.sleep(0.2)
    assert rig.intents == []

    # The newest close trades.
    await publish_close(rig.nc, candles[-1])
    await rig.until(lambda: _true(len(rig.intents) == 1), "the intent of the newest close")
    assert rig.intents[0].candle_time_ms == candles[-1].time


async def test_failures_in_a_row_disable_the_assignment(rig: Rig) -> None:
    world = rig.world
    bad = await world.assign("broken", ALWAYS_FAILS)
    good = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(20)
    await world.store(candles)
    await rig.service.start()
    for candle in candles[-3:]:
        await publish_close(rig.nc, candle)
    await rig.evaluated_at(good, candles[-1].time)
    row = await world.assignment(bad)
    assert not row.enabled
    assert row.consecutive_failures == 3
    assert row.disabled_reason is not None and "3 failed evaluations in a row" in row.disabled_reason
    assert "line 2:" in row.disabled_reason
    assert rig.service.roster.get(bad) is None
    assert rig.service.roster.get(good) is not None
    # Only the good one traded.
    assert [i.assignment_id for i in rig.intents] == [good]


async def test_a_success_resets_the_run_of_failures(rig: Rig) -> None:
    world = rig.world
    flaky = "if close() % 3 == 0 then return nil end\nlocal x = nil\nreturn x.y"
    a = await world.assign("flaky", flaky)
    candles = rising_candles(22)  # closes 100 .. 121
    await world.store(candles)
    await rig.service.start()
    for candle in candles[-6:]:  # 116 fails, 117 keeps, 118 and 119 fail, 120 keeps, 121 fails
        await publish_close(rig.nc, candle)
    await rig.evaluated_at(a, candles[-1].time)
    row = await world.assignment(a)
    assert row.enabled, row.disabled_reason  # 4 failures, never 3 in a row
    assert row.consecutive_failures == 1
    assert row.last_eval_outcome == "error" and (row.last_eval_message or "").startswith("line 3:")


async def test_closes_published_while_stopped_are_handled_after_a_restart(rig: Rig) -> None:
    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(25)
    await world.store(candles)
    await rig.service.start()
    await publish_close(rig.nc, candles[-2])
    await rig.evaluated_at(a, candles[-2].time)
    await rig.service.stop()
    await publish_close(rig.nc, candles[-1])  # nobody is reading now
    again = DecisionService(rig.nc, world.engine, rig.service.settings, sizer=rig.service.sizer)
    rig.service = again
    await again.start()
    await rig.evaluated_at(a, candles[-1].time)


async def test_a_paused_user_places_no_intent(rig: Rig) -> None:
    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    await world.store(candles)
    await rig.service.start()
    await world.pause()
    # The service still holds the assignment (no change message yet): the check at recording stops it.
    await publish_close(rig.nc, candles[-1])
    await rig.evaluated_at(a, candles[-1].time)
    await asyncio.sleep(0.2)
    assert rig.intents == []
    assert (await world.assignment(a)).target == "short"
    # Told of the pause, the service drops the user's assignments.
    await rig.nc.publish(subjects.ASSIGNMENTS_CHANGED, codec.encode(AssignmentChanged(user_id=world.user.id)))
    await rig.until(lambda: _true(len(rig.service.roster) == 0), "the reload after the change message")


async def test_an_assignment_added_later_is_picked_up_by_the_change_message(rig: Rig) -> None:
    world = rig.world
    candles = rising_candles(30)
    await world.store(candles)
    await rig.service.start()
    assert len(rig.service.roster) == 0
    a = await world.assign("rising", LONG_WHEN_RISING, symbol="BETA/USD")
    await rig.nc.publish(subjects.ASSIGNMENTS_CHANGED, codec.encode(AssignmentChanged(assignment_id=a)))
    await rig.until(lambda: _true(rig.service.roster.get(a) is not None), "the new assignment")
    # ... and the adapter hears that BETA/USD is wanted, with the history its strategy needs.
    await rig.until(lambda: _true(any("BETA/USD" in m.symbols for m in rig.markets)), "markets wanted")
    wanted = [m for m in rig.markets if "BETA/USD" in m.symbols][-1]
    assert wanted.history_minutes["BETA/USD"] >= 3


async def test_a_redelivered_close_republishes_its_recorded_decision_once(rig: Rig) -> None:
    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    await world.store(candles)
    await rig.service.start()
    from tradewinds.domain.messages import ClosedCandle, CloseReason

    close = ClosedCandle("sim", SYMBOL, "1m", candles[-1], CloseReason.NEXT_CANDLE)
    first = await rig.service.handle_close(close)
    # A crash after recording, before the close was acknowledged: it comes again.
    second = await rig.service.handle_close(close)
    assert [d.new for d in first] == [True] and [d.new for d in second] == [False]
    assert first[0].intent_id == second[0].intent_id
    await rig.until(lambda: _true(len(rig.intents) == 2), "both publications")
    info = await rig.nc.jetstream().stream_info(subjects.ORDERS_STREAM)
    assert info.state.messages == 1  # the message id kept one
    assert len(await world.decisions()) == 1
    assert SERIES.symbol == SYMBOL and a


async def _true(value: bool) -> bool:
    return value


async def test_an_old_close_redelivered_after_newer_ones_moves_nothing_back(rig: Rig) -> None:
    """A close whose acknowledgement was lost comes again after newer closes were handled: its
    decision was executed already, and it must not set the target (or the last evaluation) back,
    or a later change would be missed."""
    from tradewinds.domain.messages import ClosedCandle, CloseReason

    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    await world.store(candles)
    await rig.service.start()
    old = ClosedCandle("sim", SYMBOL, "1m", candles[-1], CloseReason.NEXT_CANDLE)
    assert [d.target for d in await rig.service.handle_close(old)] == ["long"]
    drop = Candle(candles[-1].time + M, 100.0, 100.5, 99.5, 100.0, 1.0)  # below its SMA(3): short
    await world.store([drop])
    await rig.service.handle_close(ClosedCandle("sim", SYMBOL, "1m", drop, CloseReason.NEXT_CANDLE))
    assert (await world.assignment(a)).target == "short"

    await rig.service.handle_close(old)  # the redelivery
    row = await world.assignment(a)
    assert (row.target, row.last_eval_candle_ms, row.last_eval_target) == ("short", drop.time, "short")
    assert rig.service.roster.get(a).target == "short"  # type: ignore[union-attr]

    rise = Candle(drop.time + M, 200.0, 200.5, 199.5, 200.0, 1.0)  # long again: a change to trade
    await world.store([rise])
    decided = await rig.service.handle_close(ClosedCandle("sim", SYMBOL, "1m", rise, CloseReason.NEXT_CANDLE))
    assert [(d.target, d.new, d.stale) for d in decided] == [("long", True, False)]


async def test_an_old_close_delivered_first_after_a_newer_one_trades_nothing(rig: Rig) -> None:
    """A close handled for the first time after a newer one of its market was (its first delivery
    lost with a killed core): what it decides is out of date. It is recorded as stale, places no
    order, and leaves the target the newer close set."""
    from tradewinds.domain.messages import ClosedCandle, CloseReason

    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    drop = Candle(candles[-1].time + M, 100.0, 100.5, 99.5, 100.0, 1.0)  # below its SMA(3): short
    await world.store([*candles, drop])
    await rig.service.start()
    await rig.service.handle_close(ClosedCandle("sim", SYMBOL, "1m", drop, CloseReason.NEXT_CANDLE))
    assert (await world.assignment(a)).target == "short"  # as it started: nothing decided

    old = ClosedCandle("sim", SYMBOL, "1m", candles[-1], CloseReason.NEXT_CANDLE)  # rising: long
    decided = await rig.service.handle_close(old)
    assert [(d.target, d.new, d.stale) for d in decided] == [("long", True, True)]
    row = await world.assignment(a)
    assert (row.target, row.last_eval_candle_ms) == ("short", drop.time)
    assert rig.service.roster.get(a).target == "short"  # type: ignore[union-attr]
    await asyncio.sleep(0.2)
    assert rig.intents == []


async def test_a_slow_market_holds_up_only_its_own_later_closes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closes fetched later are handled while an earlier batch is still being evaluated, except
    a later close of the same series, which waits for the one before it."""
    from tradewinds.core.decision import service as service_module
    from tradewinds.core.decision.requests import request_evaluation

    world = rig.world
    other = SeriesKey("sim", "BETA/USD", Timeframe.M1)
    a = await world.assign("rising", LONG_WHEN_RISING)
    b = await world.assign("rising", LONG_WHEN_RISING, symbol=other.symbol)
    candles = rising_candles(30)
    await world.store(candles)
    await world.store(candles, other)
    real, held = request_evaluation, asyncio.Event()
    order: list[tuple[str, int]] = []

    async def slow_for_alpha(bus: object, request: object, *args: object) -> object:
        symbol, candle_ms = request.symbol, request.candle_time_ms  # type: ignore[attr-defined]
        if symbol == SYMBOL and candle_ms == candles[-2].time:
            await held.wait()
        order.append((symbol, candle_ms))
        return await real(bus, request, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(service_module, "request_evaluation", slow_for_alpha)
    await rig.service.start()
    await publish_close(rig.nc, candles[-2])
    await asyncio.sleep(0.3)  # fetched alone, and held
    await publish_close(rig.nc, candles[-1])  # alpha's next close: must wait for the held one
    await publish_close(rig.nc, candles[-2], other)
    await rig.evaluated_at(b, candles[-2].time)  # beta went by while alpha was held
    assert (await world.assignment(a)).last_eval_candle_ms is None
    held.set()
    await rig.evaluated_at(a, candles[-1].time)
    alpha = [ms for symbol, ms in order if symbol == SYMBOL]
    assert alpha == [candles[-2].time, candles[-1].time]
    assert not any(d.stale for d in await world.decisions())  # in order: nothing decided out of date


async def test_closes_waiting_for_their_turn_are_handed_back_at_a_stop(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping while a close is held and the next close of its series waits for it: both are
    handed back at once (not left for JetStream's ack wait), and a restarted service takes them."""
    from tradewinds.core.decision import service as service_module

    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    await world.store(candles)
    never = asyncio.Event()

    async def stuck(*args: object) -> object:
        await never.wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(service_module, "request_evaluation", stuck)
    await rig.service.start()
    await publish_close(rig.nc, candles[-2])
    await asyncio.sleep(0.3)
    await publish_close(rig.nc, candles[-1])  # waits for the held one
    await asyncio.sleep(0.3)
    await rig.service.stop()
    monkeypatch.undo()
    again = DecisionService(rig.nc, world.engine, rig.service.settings, sizer=rig.service.sizer)
    rig.service = again
    await again.start()
    await rig.evaluated_at(a, candles[-1].time)  # within 15 s: the ack wait is 60 s
    assert not any(d.stale for d in await world.decisions())


async def test_a_close_published_while_the_service_stops_is_handed_back(rig: Rig) -> None:
    """The server delivers a close published during a stop to the fetch the stop interrupted;
    it is handed back, not kept for the minute's ack wait (stale by then: no trade)."""
    world = rig.world
    a = await world.assign("rising", LONG_WHEN_RISING)
    candles = rising_candles(30)
    await world.store(candles)
    await rig.service.start()
    await asyncio.sleep(0.3)  # fetching, nothing there yet
    stopping = asyncio.create_task(rig.service.stop())
    await asyncio.sleep(0.1)
    await publish_close(rig.nc, candles[-1])
    await stopping
    again = DecisionService(rig.nc, world.engine, rig.service.settings, sizer=rig.service.sizer)
    rig.service = again
    await again.start()
    await rig.evaluated_at(a, candles[-1].time)  # within 15 s: the ack wait is 60 s
