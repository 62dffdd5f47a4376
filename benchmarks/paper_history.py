"""A paper batch after a long history: 50 slices of one paper account, each changing position at
every close, SQLite. As the recorded fills grow, it times one batch (50 intents) with the slices'
books kept between batches (the lane as it runs) and with them forgotten, so every slice's book
is replayed from all its fills (as every batch did before they were kept), in one run.

Run: .venv/bin/python benchmarks/paper_history.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from tests.exchange.execution.helpers import make_intent, seed_assignment
from tests.exchange.execution.test_paper_lane import Bus

from execution import Feed, T
from tradewinds.exchange.execution.service import ExecutionService
from tradewinds.exchange.execution.slice_books import SliceBooks
from tradewinds.storage.database import create_engine, upgrade_schema
from tradewinds.storage.trading_models import AssignmentRow

SLICES = 50
CHECKPOINTS = (50, 200, 800)  # fills per slice when a batch is timed


async def seed(engine: AsyncEngine) -> list[AssignmentRow]:
    first = await seed_assignment(engine, allocation="100", paper_balances={"USD": "10000"})
    made = [first]
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for _ in range(SLICES - 1):
            row = AssignmentRow(
                user_id=first.user_id, version_id=first.version_id, account_id=first.account_id,
                exchange="sim", symbol="ALPHA/USD", timeframe="1m", allocation=Decimal(100), params="{}",
                enabled=True, target="short", consecutive_failures=0, created_ms=0, updated_ms=0,
            )  # fmt: skip
            session.add(row)
            made.append(row)
        await session.commit()
    return made


def service(engine: AsyncEngine) -> ExecutionService:
    return ExecutionService(Bus(), engine, "sim", Feed())  # type: ignore[arg-type]


async def round_(lane: ExecutionService, slices: list[AssignmentRow], number: int) -> float:
    target = "long" if number % 2 == 0 else "short"
    intents = [make_intent(a, target, T + number * 60_000, 100.0 + number % 7) for a in slices]
    started = time.perf_counter()
    await lane.paper.execute(intents, lane.executor)
    return time.perf_counter() - started


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/history.db"
        await upgrade_schema(url)
        engine = create_engine(url)
        slices = await seed(engine)
        running = service(engine)
        number = 0
        print(f"{SLICES} paper slices on one account, a batch of {SLICES} intents, SQLite")
        for checkpoint in CHECKPOINTS:
            while number < checkpoint:
                await round_(running, slices, number)
                number += 1
            kept = await round_(running, slices, number)
            running.paper.books = SliceBooks()  # forgotten: the next batch replays every fill
            replayed = await round_(running, slices, number + 1)
            number += 2
            print(
                f"  {checkpoint:4d} fills a slice: books kept {kept * 1000:6.1f} ms a batch, "
                f"every fill replayed {replayed * 1000:7.1f} ms ({replayed / kept:.1f}x)"
            )
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
