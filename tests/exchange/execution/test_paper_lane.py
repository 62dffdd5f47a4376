"""PaperLane.execute against the database: a batch records what the executor records one at a time.

Equivalence tests seed the same accounts twice on a fresh database: `Executor.execute` trades the
intents one at a time (a market that is gone noted as ExecutionService does), the records are read
and every row deleted, then the lane trades them as one batch; the records are compared without
ids and times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.exchange.execution.helpers import NOW, make_intent, seed_assignment
from tradewinds.domain.candles import Candle
from tradewinds.domain.ledger import SliceBook, replay
from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.times import format_time_ms
from tradewinds.domain.trading import OrderIntent
from tradewinds.exchange.adapter import InvalidOrder, MarketInfo
from tradewinds.exchange.execution.executor import Outcome
from tradewinds.exchange.execution.service import ExecutionService
from tradewinds.exchange.execution.venues import rebuild_paper_venue
from tradewinds.storage.orders import fills_of_assignment, list_orders
from tradewinds.storage.trading_models import AssignmentRow, DecisionRow, TradingAccountRow, UserRow

T = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
NEXT = T + 60_000
ALPHA = MarketInfo(
    "ALPHA/USD", "A", "ALPHA", "USD", amount_precision=Decimal("1e-8"), min_amount=Decimal("0.001")
)
# At most 5 units an order (bigger trades take several legs), and at least 10 USD.
BETA = MarketInfo(
    "BETA/USD", "B", "BETA", "USD", Decimal("0.0001"), max_amount=Decimal(5), min_cost=Decimal(10)
)
MARKETS = {m.symbol: m for m in (ALPHA, BETA)}
CLOSES = {("ALPHA/USD", T): 100.0, ("ALPHA/USD", NEXT): 104.5}  # else 100
DONE = Outcome.DONE

Slices = dict[str, AssignmentRow]  # by label
Step = tuple[str, str, int]  # slice label, target, candle time
Spec = dict[str, str]  # accounts: "USD fee-rate slippage"; slices: "account symbol allocation"


class Feed:
    def __init__(self, markets: Sequence[MarketInfo] = (ALPHA, BETA)) -> None:
        self.markets = list(markets)

    async def list_markets(self) -> list[MarketInfo]:
        return self.markets


class Bus:
    async def publish(self, subject: str, data: bytes) -> None:  # order events: not looked at here
        return None


def make_service(engine: AsyncEngine, feed: Feed | None = None) -> ExecutionService:
    """Built as in production, not started: `paper` is the lane, `executor` the single path."""
    return ExecutionService(Bus(), engine, "sim", feed or Feed())  # type: ignore[arg-type]


async def empty(engine: AsyncEngine) -> None:
    """Every row gone: the database is as fresh as a new one (but for its id sequences)."""
    async with engine.begin() as conn:
        for table in reversed(AssignmentRow.metadata.sorted_tables):
            await conn.execute(table.delete())


async def seed_slices(engine: AsyncEngine, accounts: Spec, slices: Spec) -> Slices:
    seeded: Slices = {}
    first: Slices = {}  # by account label
    for label, spec in slices.items():
        account, symbol, allocation = spec.split()
        if account not in first:
            usd, fee, slip = accounts[account].split()
            seeded[label] = first[account] = await seed_assignment(
                engine, symbol=symbol, allocation=allocation, paper_balances={"USD": usd}, fee_rate=fee,
                slippage=slip, email=f"{account.lower()}@example.com",
            )  # fmt: skip
            continue
        like = first[account]
        row = AssignmentRow(
            user_id=like.user_id, version_id=like.version_id, account_id=like.account_id, exchange="sim",
            timeframe="1m", symbol=symbol, allocation=Decimal(allocation), params="{}", enabled=True,
            target="short", consecutive_failures=0, created_ms=NOW, updated_ms=NOW,
        )  # fmt: skip
        async with AsyncSession(engine, expire_on_commit=False) as session:
            session.add(row)
            await session.commit()
        seeded[label] = row
    return seeded


async def one_account(engine: AsyncEngine, usd: str, **slices: str) -> Slices:
    """Slices (label="symbol allocation") of one paper account, fee 0.1%, no slippage."""
    return await seed_slices(engine, {"P": f"{usd} 0.001 0"}, {k: f"P {v}" for k, v in slices.items()})


def batch(slices: Slices, steps: Sequence[Step]) -> list[OrderIntent]:
    return [
        make_intent(slices[name], target, time, CLOSES.get((slices[name].symbol, time), 100.0))
        for name, target, time in steps
    ]


async def record_decisions(engine: AsyncEngine, intents: Sequence[OrderIntent]) -> None:
    """The decisions a strategy records before it publishes their intents."""
    rows = [
        DecisionRow(assignment_id=i.assignment_id, intent_id=i.intent_id, candle_time_ms=i.candle_time_ms,
                    target=i.target, previous="short", candle_close=i.candle_close, stale=False, created_ms=0)
        for i in intents
    ]  # fmt: skip
    async with AsyncSession(engine) as session:
        session.add_all(rows)
        await session.commit()


async def account_of(engine: AsyncEngine, slice_: AssignmentRow) -> TradingAccountRow:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        account = await session.get(TradingAccountRow, slice_.account_id)
    assert account is not None
    return account


class Order(NamedTuple):
    slice: str
    candle: int
    leg: int
    side: str
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    status: str
    error: str | None


Fill = tuple[str, Decimal, Decimal, Decimal, str]  # side, amount, price, fee, fee currency


@dataclass(frozen=True)
class Records:
    orders: list[Order]  # oldest first
    fills: dict[str, list[Fill]]  # by slice label
    books: dict[str, SliceBook]
    balances: dict[str, dict[str, Decimal]]  # free paper balances, by the label of the account's first slice


async def records_of(engine: AsyncEngine, slices: Slices) -> Records:
    label = {row.id: name for name, row in slices.items()}
    orders = [
        Order(label[o.assignment_id], o.candle_time_ms, o.leg, o.side, o.amount, o.filled, o.price, o.fee,
              o.fee_currency, o.status, o.error)
        for o in await list_orders(engine)
    ]  # fmt: skip
    fills: dict[str, list[Fill]] = {}
    books, balances = {}, {}
    for name, row in slices.items():
        ledger = await fills_of_assignment(engine, row.id)
        fills[name] = [(f.side, f.amount, f.price, f.fee, f.fee_currency) for f in ledger]
        base, quote = row.symbol.split("/")
        books[name] = replay(row.allocation, base, quote, ledger)
    for name in {row.account_id: name for name, row in reversed(slices.items())}.values():
        venue = await rebuild_paper_venue(engine, await account_of(engine, slices[name]), MARKETS)
        balances[name] = await venue.free_balances()
    return Records(orders, fills, books, balances)


def short(records: Records) -> list[tuple[str, int, int, str, str]]:
    return [(o.slice, o.candle, o.leg, o.side, o.status) for o in records.orders]


Seed = Callable[[AsyncEngine], Awaitable[Slices]]


async def both_ways(engine: AsyncEngine, seed: Seed, steps: Sequence[Step]) -> tuple[Records, Records]:
    """The records of `steps` executed one at a time, and as one lane batch (on the emptied database)."""
    single, slices = make_service(engine), await seed(engine)
    for intent in batch(slices, steps):
        try:
            assert await single.executor.execute(intent) is DONE
        except InvalidOrder as exc:  # the market is gone: as ExecutionService._execute
            await single.executor.note_unplaceable(intent, str(exc))
    one_at_a_time = await records_of(engine, slices)
    await empty(engine)
    lane, slices = make_service(engine), await seed(engine)
    assert await lane.paper.execute(batch(slices, steps), lane.executor) == [DONE] * len(steps)
    return await records_of(engine, slices), one_at_a_time


def assert_solvent(records: Records) -> None:
    for balances in records.balances.values():
        assert all(amount >= 0 for amount in balances.values()), balances


ACCOUNTS = {"P": "10000 0.001 0", "Q": "3000 0.002 0.01", "R": "1000 0.001 0"}
SLICES = {
    "p1": "P ALPHA/USD 3000",
    "p2": "P ALPHA/USD 2500",
    "p3": "P BETA/USD 2000",  # 20 BETA: four legs each way
    "q1": "Q ALPHA/USD 2000",
    "q2": "Q BETA/USD 10.16",  # its sale costs less than BETA's minimum after slippage: rejected
    "q3": "Q BETA/USD 1500",  # Q's allocations exceed its cash: sized down to what is free
    "r1": "R ALPHA/USD 1000",
}
STEPS = [
    ("p1", "long", T), ("q1", "long", T), ("p3", "long", T), ("q2", "long", T), ("r1", "long", T),
    ("p2", "long", T), ("q3", "long", T), ("p1", "short", NEXT), ("q2", "short", NEXT),
    ("r1", "short", NEXT), ("p2", "long", NEXT), ("p3", "short", NEXT), ("q3", "short", NEXT),
    ("q1", "long", NEXT),
]  # fmt: skip


async def test_a_batch_records_what_one_intent_at_a_time_records(engine: AsyncEngine) -> None:
    lane, single = await both_ways(engine, lambda e: seed_slices(e, ACCOUNTS, SLICES), STEPS)
    assert lane == single
    assert {o.status for o in lane.orders} == {"filled", "rejected", "canceled"}  # every outcome is reached
    assert max(o.leg for o in lane.orders) == 3  # and several legs
    assert lane.books["r1"].base == 0 and lane.books["r1"].realized_pnl > 0
    assert_solvent(lane)


async def test_a_batch_never_spends_more_than_the_account_has_free(engine: AsyncEngine) -> None:
    slices = {"x1": "A ALPHA/USD 600", "x2": "A ALPHA/USD 600", "x3": "A BETA/USD 600"}
    steps = [("x1", "long", T), ("x2", "long", T), ("x3", "long", T)]
    lane, single = await both_ways(engine, lambda e: seed_slices(e, {"A": "1000 0.001 0.005"}, slices), steps)
    assert lane == single
    x1, x2, x3 = lane.orders
    assert (x1.slice, x1.status, x1.filled) == ("x1", "filled", Decimal("5.97014925"))  # 600 / 100.5
    assert (x2.slice, x2.status, x2.filled) == ("x2", "filled", Decimal("3.98009950"))  # the ~400 left
    assert (x3.slice, x3.status) == ("x3", "canceled") and str(x3.error).startswith("nothing to do: ")
    spent = sum(o.filled * (o.price or 0) for o in (x1, x2))
    assert 999 < spent <= 1000 and lane.balances["x1"]["USD"] == 1000 - spent
    assert_solvent(lane)


async def test_redelivered_intents_trade_no_more_and_new_ones_trade_in_order(engine: AsyncEngine) -> None:
    slices = await one_account(engine, "10000", a="ALPHA/USD 1000", b="ALPHA/USD 1000", c="BETA/USD 1000")
    service = make_service(engine)
    first = batch(slices, [("a", "long", T), ("b", "long", T), ("c", "long", T)])
    await record_decisions(engine, first)
    assert await service.paper.execute(first, service.executor) == [DONE] * 3
    before = await records_of(engine, slices)
    assert [o[:3] for o in before.orders] == [("a", T, 0), ("b", T, 0), ("c", T, 0), ("c", T, 1)]

    assert await service.paper.execute(first, service.executor) == [DONE] * 3
    assert await records_of(engine, slices) == before

    second = batch(slices, [("a", "short", NEXT), ("c", "short", NEXT)])
    await record_decisions(engine, second)
    mixed = [second[0], first[1], second[1], first[0], first[2]]
    assert await service.paper.execute(mixed, service.executor) == [DONE] * 5
    after = await records_of(engine, slices)
    assert after.orders[: len(before.orders)] == before.orders
    assert short(after)[len(before.orders) :] == [
        ("a", NEXT, 0, "sell", "filled"),
        ("c", NEXT, 0, "sell", "filled"),
        ("c", NEXT, 1, "sell", "filled"),
    ]
    assert [len(after.fills[name]) for name in "abc"] == [2, 1, 4]
    assert after.books["a"].base == after.books["c"].base == 0 and after.books["b"].base == Decimal("9.99")
    assert_solvent(after)


async def test_the_same_intent_twice_in_a_batch_trades_once(engine: AsyncEngine) -> None:
    slices = await one_account(engine, "2100", a="ALPHA/USD 1000", b="BETA/USD 1000", tiny="ALPHA/USD 0.05")
    service = make_service(engine)
    a, b, tiny = batch(slices, [("a", "long", T), ("b", "long", T), ("tiny", "long", T)])
    repeated = [a, a, b, tiny, a, b, tiny]
    assert await service.paper.execute(repeated, service.executor) == [DONE] * len(repeated)
    records = await records_of(engine, slices)
    assert short(records) == [
        ("a", T, 0, "buy", "filled"),
        ("b", T, 0, "buy", "filled"),
        ("b", T, 1, "buy", "filled"),
        ("tiny", T, 0, "buy", "canceled"),  # "nothing to do", noted once
    ]
    assert records.fills["a"] == [("buy", Decimal(10), Decimal(100), Decimal("0.01"), "ALPHA")]
    assert records.balances["a"] == {"USD": Decimal(100), "ALPHA": Decimal("9.99"), "BETA": Decimal("9.99")}


async def test_a_failed_commit_records_nothing_and_the_account_is_rebuilt(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    slices = await one_account(engine, "1000", a="ALPHA/USD 500", b="ALPHA/USD 500", c="ALPHA/USD 500")
    service = make_service(engine)
    assert await service.paper.execute(batch(slices, [("a", "long", T)]), service.executor) == [DONE]
    recorded = await records_of(engine, slices)  # and the account is cached

    commit, failures = AsyncSession.commit, [OSError("disk full")]

    async def failing_once(session: AsyncSession) -> None:  # only the lane commits from here on
        if failures:
            raise failures.pop()
        await commit(session)

    monkeypatch.setattr(AsyncSession, "commit", failing_once)
    failed = batch(slices, [("b", "long", T), ("a", "short", NEXT)])  # b spends the last 500 USD in memory
    with pytest.raises(OSError, match="disk full"):
        await service.paper.execute(failed, service.executor)
    assert await records_of(engine, slices) == recorded

    # Delivered again behind c's intent: c finds the 500 USD that b's unrecorded buy had spent.
    again = [*batch(slices, [("c", "long", T)]), *failed]
    assert await service.paper.execute(again, service.executor) == [DONE] * 3
    records = await records_of(engine, slices)
    assert short(records) == [
        ("a", T, 0, "buy", "filled"),
        ("c", T, 0, "buy", "filled"),
        ("a", NEXT, 0, "sell", "filled"),  # b had nothing free left to buy with: nothing recorded
    ]
    assert records.books["c"].base == Decimal("4.995") and records.fills["b"] == []
    proceeds = Decimal("4.995") * Decimal("104.5") * Decimal("0.999")
    assert records.books["a"].quote == proceeds
    assert records.balances["a"] == {"USD": proceeds, "ALPHA": Decimal("4.995")}
    venue = await service.paper.venue(await account_of(engine, slices["a"]))
    assert await venue.free_balances() == records.balances["a"]  # the account in memory is the recorded one


async def seed_refusals(engine: AsyncEngine) -> Slices:
    slices = {
        name: await seed_assignment(
            engine,
            email=f"{name}@example.com",
            allocation="0.05" if name == "tiny" else "1000",
            symbol="GONE/USD" if name == "gone" else "ALPHA/USD",
        )
        for name in ("paused", "disabled", "superseded", "tiny", "gone", "trades")
    }
    paused = update(UserRow).where(UserRow.id == slices["paused"].user_id).values(trading_paused=True)
    disabled = update(AssignmentRow).where(AssignmentRow.id == slices["disabled"].id)
    async with AsyncSession(engine) as session:
        await session.execute(paused)
        await session.execute(disabled.values(enabled=False, disabled_reason="three failed runs"))
        await session.commit()
    await record_decisions(engine, batch(slices, [("superseded", "short", NEXT)]))
    return slices


async def test_refusals_are_recorded_as_the_executor_records_them(engine: AsyncEngine) -> None:
    steps = [(name, "long", T) for name in ("paused", "disabled", "superseded", "tiny", "gone", "trades")]
    lane, single = await both_ways(engine, seed_refusals, steps)
    assert lane == single
    assert {o.slice: o.error for o in lane.orders if o.status == "canceled" and o.amount == 0} == {
        "paused": "not placed: trading is paused for this user",
        "disabled": "not placed: the assignment is disabled: three failed runs",
        "superseded": f"not placed: superseded by the decision on the candle of {format_time_ms(NEXT)}",
        "tiny": "nothing to do: 0.05 USD to spend: 0.0005 ALPHA is below the ALPHA/USD minimum order of "
        "0.001 ALPHA",
        "gone": "not placed: sim no longer lists GONE/USD; no order can be placed",
    }
    assert [o.slice for o in lane.orders if o.status == "filled"] == ["trades"]
    assert [name for name, fills in lane.fills.items() if fills] == ["trades"]


async def test_a_refused_intent_with_nothing_to_trade_records_what_the_executor_records(
    engine: AsyncEngine,
) -> None:
    async def seed(engine: AsyncEngine) -> Slices:
        return {"paused": (await seed_refusals(engine))["paused"]}

    lane, single = await both_ways(engine, seed, [("paused", "short", T)])  # the slice is in cash already
    assert lane == single


async def test_a_redelivered_intent_whose_market_is_gone_does_not_stop_the_batch(engine: AsyncEngine) -> None:
    slices = await one_account(engine, "2000", a="ALPHA/USD 1000", b="BETA/USD 1000")
    service = make_service(engine)
    recorded, new = batch(slices, [("a", "long", T), ("b", "long", T)])
    assert await service.paper.execute([recorded], service.executor) == [DONE]
    restarted = make_service(engine, Feed([BETA]))  # ALPHA delisted; the acknowledgement was lost
    assert await restarted.paper.execute([recorded, new], restarted.executor) == [DONE, DONE]
    assert [o.slice for o in (await records_of(engine, slices)).orders] == ["a", "b", "b"]


def streamed(symbol: str, minute_ms: int, close: float) -> CandleUpdate:
    return CandleUpdate("sim", symbol, Candle(minute_ms, close, close, close, close, 1.0))


async def test_paper_fills_at_the_latest_streamed_close_else_at_the_decision_close(
    engine: AsyncEngine,
) -> None:
    slices = await one_account(engine, "2000", a="ALPHA/USD 1000", b="BETA/USD 1000")
    service = make_service(engine)
    service.prices.observe(streamed("BETA/USD", T - 60_000, 90.0))  # older than the decision candle: not used
    service.prices.observe(streamed("ALPHA/USD", T, 110.0))
    beta = make_intent(slices["b"], "long", T, 125.0)
    long, sale = batch(slices, [("a", "long", T), ("a", "short", NEXT)])  # decided at 100 and 104.5
    assert await service.paper.execute([beta, long], service.executor) == [DONE, DONE]
    service.prices.observe(streamed("ALPHA/USD", NEXT, 120.0))
    assert await service.paper.execute([sale], service.executor) == [DONE]
    records = await records_of(engine, slices)
    assert [(side, amount, price) for side, amount, price, *_ in records.fills["b"]] == [
        ("buy", Decimal(5), Decimal(125)),
        ("buy", Decimal(3), Decimal(125)),
    ]
    assert records.books["b"].base == Decimal(1000) * Decimal("0.999") / 125  # C(1-f)/P
    bought, sold = Decimal("9.09090909"), Decimal("9.08181818")  # 1000 / 110, and what is held: on the step
    assert records.fills["a"] == [
        ("buy", bought, Decimal(110), bought * Decimal("0.001"), "ALPHA"),
        ("sell", sold, Decimal(120), sold * 120 * Decimal("0.001"), "USD"),
    ]
    book = records.books["a"]
    assert book.base == bought * Decimal("0.999") - sold
    assert book.quote == 1000 - bought * 110 + sold * 120 * Decimal("0.999")  # U·P(1-f)
    assert records.balances["a"] == {"USD": book.quote, "ALPHA": book.base, "BETA": records.books["b"].base}
