"""Recording one wave of closes: 200 markets x 50 assignments, every evaluation and half of them
decisions, in one transaction (`storage.decisions.record_closes`), on SQLite.

Beside it, in the same run, the last-evaluation UPDATE alone two ways: through SQLAlchemy's
executemany (how it was written before `storage/bulk.py`) and through the driver's. Run:
.venv/bin/python benchmarks/recording.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Table, bindparam, case, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decision import MARKETS, PER_MARKET, seed
from tradewinds.storage.bulk import execute_many
from tradewinds.storage.database import create_engine
from tradewinds.storage.decisions import (
    _LAST_EVALUATION,
    CloseRecord,
    DecisionRequest,
    EvaluationRecord,
    record_closes,
)
from tradewinds.storage.trading_models import AssignmentRow

ROUNDS = 5
M = 60_000
T0 = 1_900_000_000_000


def wave(ids: list[int], number: int) -> list[CloseRecord]:
    candle = T0 + number * M
    target = "long" if number % 2 else "short"
    closes = []
    for market in range(MARKETS):
        mine = ids[market * PER_MARKET : (market + 1) * PER_MARKET]
        records = [EvaluationRecord(a, "decided", target, None, False) for a in mine]
        previous = "short" if target == "long" else "long"
        decisions = [DecisionRequest(a, target, previous, False) for a in mine[::2]]
        closes.append(CloseRecord(candle, 100.0, records, decisions))
    return closes


def sqlalchemy_update() -> object:
    table = AssignmentRow.__table__
    assert isinstance(table, Table)
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            (table.c.last_eval_candle_ms.is_(None)) | (table.c.last_eval_candle_ms <= bindparam("b_candle")),
        )
        .values(
            last_eval_candle_ms=bindparam("b_candle"),
            last_eval_outcome=bindparam("b_outcome"),
            last_eval_target=bindparam("b_target"),
            last_eval_message=bindparam("b_message"),
            last_eval_ms=bindparam("b_now"),
            consecutive_failures=case((bindparam("b_failed"), table.c.consecutive_failures + 1), else_=0),
        )
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/recording.db"
        await seed(url)
        engine = create_engine(url)
        async with engine.connect() as conn:
            ids = [int(i) for i in (await conn.scalars(select(AssignmentRow.id).order_by(AssignmentRow.id)))]
        waves, through_sqlalchemy, through_driver = [], [], []
        for number in range(ROUNDS):
            closes = wave(ids, number)
            started = time.perf_counter()
            await record_closes(engine, closes, 3, T0 + number * M)
            waves.append(time.perf_counter() - started)

            candle = T0 + (ROUNDS + number) * M
            named = [
                {"b_id": a, "b_candle": candle, "b_outcome": "kept", "b_target": None, "b_message": None}
                | {"b_failed": False, "b_now": 0}
                for a in ids
            ]
            started = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(sqlalchemy_update(), named)  # type: ignore[call-overload]
            through_sqlalchemy.append(time.perf_counter() - started)

            rows = [
                {"id": a, "candle": candle + M, "outcome": "kept", "target": None, "message": None}
                | {"failed": False, "now": 0}
                for a in ids
            ]
            started = time.perf_counter()
            async with engine.begin() as conn:
                await execute_many(conn, _LAST_EVALUATION, rows)
            through_driver.append(time.perf_counter() - started)
        await engine.dispose()

    def ms(samples: list[float]) -> str:
        return f"median {statistics.median(samples) * 1000:.0f} ms (best {min(samples) * 1000:.0f})"

    count = MARKETS * PER_MARKET
    print(f"one wave: {MARKETS} closes, {count:,} evaluations, {count // 2:,} decisions, SQLite")
    print(f"  record_closes, one transaction:             {ms(waves)}")
    print(f"  {count:,} last evaluations, SQLAlchemy executemany: {ms(through_sqlalchemy)}")
    print(f"  {count:,} last evaluations, driver executemany:     {ms(through_driver)}")
    ratio = statistics.median(through_sqlalchemy) / statistics.median(through_driver)
    print(f"  the driver's is {ratio:.1f}x as fast")


if __name__ == "__main__":
    asyncio.run(main())
