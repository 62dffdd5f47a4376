"""GroupCommit: concurrent callers' items share transactions; each caller gets its own results."""

from __future__ import annotations

import asyncio

import pytest

from tradewinds.core.decision.group_commit import GroupCommit


class Ledger:
    """A commit that takes a while, as a transaction does, and records what each one held."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.transactions: list[list[int]] = []
        self.fail_on = fail_on

    async def commit(self, items: list[int]) -> list[str]:
        self.transactions.append(items)
        await asyncio.sleep(0.01)
        if self.fail_on in items:
            raise RuntimeError(f"cannot record {self.fail_on}")
        return [f"recorded {i}" for i in items]


async def test_callers_arriving_during_a_transaction_share_the_next_one() -> None:
    ledger = Ledger()
    group = GroupCommit(ledger.commit)
    first = asyncio.create_task(group.record([1]))
    await asyncio.sleep(0)  # the first transaction is under way
    later = [asyncio.create_task(group.record([10 * k, 10 * k + 1])) for k in range(1, 6)]
    assert await first == ["recorded 1"]
    results = await asyncio.gather(*later)
    assert results == [[f"recorded {10 * k}", f"recorded {10 * k + 1}"] for k in range(1, 6)]
    assert ledger.transactions == [[1], [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]]
    assert group.commits == 2


async def test_a_failed_transaction_fails_its_callers_only() -> None:
    ledger = Ledger(fail_on=20)
    group = GroupCommit(ledger.commit)
    first = asyncio.create_task(group.record([1]))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(group.record([10])), asyncio.create_task(group.record([20]))]
    assert await first == ["recorded 1"]
    for task in failing:
        with pytest.raises(RuntimeError, match="cannot record 20"):
            await task
    assert await group.record([30]) == ["recorded 30"]  # the next transaction goes on


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    ledger = Ledger()
    group = GroupCommit(ledger.commit)
    first = asyncio.create_task(group.record([1]))
    await asyncio.sleep(0)
    gone = asyncio.create_task(group.record([2]))
    kept = asyncio.create_task(group.record([3]))
    await asyncio.sleep(0)
    gone.cancel()
    assert await first == ["recorded 1"] and await kept == ["recorded 3"]
    assert gone.cancelled()
    assert ledger.transactions == [[1], [2, 3]]  # its items were recorded all the same
    await group.finish()
