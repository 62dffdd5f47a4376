"""exchange/execution/slice_books.py through the paper lane: each slice's book is kept between
batches, moved on by the batch's own fills, and equals every recorded fill replayed; a fill that
turns up below the kept book's newest id (committed late) makes the lane replay them all, and a
fill another writer recorded above it is read and continued from."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.exchange.execution.test_paper_lane import (
    DONE,
    NEXT,
    Slices,
    T,
    batch,
    empty,
    make_service,
    one_account,
    records_of,
)
from tradewinds.domain.ledger import replay
from tradewinds.storage.orders import fills_of_assignment, list_orders
from tradewinds.storage.trading_models import FillRow

M = NEXT - T
TARGETS = ["long", "short", "long", "long", "short", "long", "short"]


async def seed(engine: AsyncEngine) -> Slices:
    return await one_account(engine, "10000", a="ALPHA/USD 1000", b="ALPHA/USD 700", c="BETA/USD 1500")


def steps(number: int, target: str) -> list[tuple[str, str, int]]:
    other = "short" if target == "long" else "long"
    return [("a", target, T + number * M), ("b", other, T + number * M), ("c", target, T + number * M)]


async def test_kept_books_equal_every_fill_replayed_and_trade_as_a_fresh_lane(engine: AsyncEngine) -> None:
    service, slices = make_service(engine), await seed(engine)
    for number, target in enumerate(TARGETS):
        assert (
            await service.paper.execute(batch(slices, steps(number, target)), service.executor) == [DONE] * 3
        )
        for name, row in slices.items():
            kept = service.paper.books.kept(row.id)
            assert kept is not None
            recorded = await fills_of_assignment(engine, row.id)
            # Moved on by the batch's own fills: the next batch has nothing to read for it.
            assert kept.fills == len(recorded), (name, number)
            base, quote = row.symbol.split("/")
            assert kept.book == replay(row.allocation, base, quote, recorded), (name, number)
    kept_records = await records_of(engine, slices)

    await empty(engine)
    slices = await seed(engine)
    for number, target in enumerate(TARGETS):  # a new lane each batch: every book replayed in full
        fresh = make_service(engine)
        assert await fresh.paper.execute(batch(slices, steps(number, target)), fresh.executor) == [DONE] * 3
    assert await records_of(engine, slices) == kept_records
    assert len(kept_records.fills["c"]) > len(TARGETS)  # BETA trades in several legs


async def test_a_fill_recorded_below_the_kept_books_newest_is_not_missed(engine: AsyncEngine) -> None:
    service, slices = make_service(engine), await seed(engine)
    a, b = slices["a"], slices["b"]
    run = [
        [("a", "long", T), ("b", "long", T)],  # fills: a's buy, then b's buy
        [("a", "short", NEXT)],
        [("a", "long", NEXT + M)],  # a's book is now kept past b's fill
    ]
    for steps_ in run:
        assert await service.paper.execute(batch(slices, steps_), service.executor) == [DONE] * len(steps_)
    kept = service.paper.books.kept(a.id)
    assert kept is not None and kept.fills == 3  # a's buy, sale and buy
    async with AsyncSession(engine) as session:
        b_fill = (await session.scalars(select(FillRow).where(FillRow.assignment_id == b.id))).one()
        assert b_fill.id < kept.last_fill_id
        # As if a's fill had been committed late, with an id taken before the kept book's newest.
        await session.execute(update(FillRow).where(FillRow.id == b_fill.id).values(assignment_id=a.id))
        await session.commit()
    held = replay(a.allocation, "ALPHA", "USD", await fills_of_assignment(engine, a.id)).base

    assert await service.paper.execute(batch(slices, [("a", "short", NEXT + 2 * M)]), service.executor) == [
        DONE
    ]
    sale = (await list_orders(engine))[-1]
    assert (sale.assignment_id, sale.side, sale.status) == (a.id, "sell", "filled")
    assert sale.amount == held.quantize(Decimal("1e-8"), rounding=ROUND_DOWN)  # b's units too
    kept = service.paper.books.kept(a.id)
    assert kept is not None and kept.fills == 5  # every fill replayed, then the sale


async def test_a_fill_another_writer_recorded_is_read_and_continued_from(engine: AsyncEngine) -> None:
    service, slices = make_service(engine), await seed(engine)
    a = slices["a"]
    assert await service.paper.execute(batch(slices, [("a", "long", T)]), service.executor) == [DONE]
    kept = service.paper.books.kept(a.id)
    assert kept is not None and kept.fills == 1
    # The executor (a redelivered intent's path) records a sale the lane's kept book knows nothing of.
    assert await service.executor.execute(batch(slices, [("a", "short", NEXT)])[0]) is DONE
    assert len(await fills_of_assignment(engine, a.id)) == 2

    assert await service.paper.execute(batch(slices, [("a", "long", NEXT + M)]), service.executor) == [DONE]
    recorded = await fills_of_assignment(engine, a.id)
    assert [f.side for f in recorded] == ["buy", "sell", "buy"]  # it knew a was back in cash
    kept = service.paper.books.kept(a.id)
    assert kept is not None and kept.fills == 3
    assert kept.book == replay(a.allocation, "ALPHA", "USD", recorded)
