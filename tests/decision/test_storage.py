"""storage/decisions.py on SQLite and PostgreSQL: loading, windows, recording in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.decision.world import LONG_WHEN_RISING, SERIES, T0, M, World, rising_candles
from tradewinds.storage.database import create_engine
from tradewinds.storage.decisions import (
    DecisionRequest,
    EvaluationRecord,
    load_enabled_assignments,
    newest_minutes,
    record_evaluations,
    window_until,
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_load_skips_disabled_paused_users_and_carries_the_source(engine: AsyncEngine) -> None:
    world = await World.make(engine)
    a = await world.assign("rising", LONG_WHEN_RISING)
    [loaded] = await load_enabled_assignments(engine)
    assert (loaded.id, loaded.source, loaded.strategy_name, loaded.version, loaded.target) == (
        a,
        LONG_WHEN_RISING,
        "rising",
        1,
        "short",
    )
    await world.pause()
    assert await load_enabled_assignments(engine) == []


async def test_window_until_is_the_newest_candles_up_to_the_close(engine: AsyncEngine) -> None:
    world = await World.make(engine)
    await world.store(rising_candles(50))
    window = await window_until(engine, SERIES, T0 + 30 * M, 10)
    assert len(window) == 10
    assert int(window.time[-1]) == T0 + 30 * M and int(window.time[0]) == T0 + 21 * M
    assert list(window.close[-2:]) == [129.0, 130.0]
    assert len(await window_until(engine, SERIES, T0 + 3 * M, 10)) == 4  # all there is
    assert await newest_minutes(engine) == {"sim": T0 + 49 * M}


async def test_a_disabled_outcome_disables_at_once_and_a_decision_is_written_once(
    engine: AsyncEngine,
) -> None:
    world = await World.make(engine)
    a = await world.assign("one", LONG_WHEN_RISING)
    b = await world.assign("two", LONG_WHEN_RISING)
    records = [
        EvaluationRecord(
            a, "disabled", None, "it stopped the evaluation process 3 times", True, disable=True
        ),
        EvaluationRecord(b, "decided", "long", None, False),
    ]
    decision = DecisionRequest(b, "long", "short", stale=False)
    first = await record_evaluations(engine, T0, 100.0, records, [decision], max_failures=5, now_ms=1)
    assert first.disabled == [a]
    row = await world.assignment(a)
    assert not row.enabled and row.disabled_reason == "disabled: it stopped the evaluation process 3 times"
    assert [(d.assignment_id, d.new) for d in first.decisions] == [(b, True)]
    assert (await world.assignment(b)).target == "long"
    again = await record_evaluations(engine, T0, 100.0, records[1:], [decision], max_failures=5, now_ms=2)
    assert [(d.assignment_id, d.new, d.intent_id) for d in again.decisions] == [(b, False, f"{b}:{T0}")]
    assert len(await world.decisions()) == 1


async def test_the_window_cache_equals_a_fresh_read_close_after_close(engine: AsyncEngine) -> None:
    from tradewinds.core.decision.windows import WindowCache

    world = await World.make(engine)
    candles = rising_candles(40)
    await world.store(candles)
    cache = WindowCache(refresh_every=10)
    size = 12
    hits = 0
    for k in range(5, 40):
        close = candles[k]
        window = cache.extend(SERIES, close, size)
        fresh = await window_until(engine, SERIES, close.time, size)
        if window is None:
            cache.put(SERIES, fresh, size)
        else:
            hits += 1
            assert list(window.time) == list(fresh.time) and list(window.close) == list(fresh.close)
    assert hits >= 25  # most closes extend the window in memory
    assert cache.extend(SERIES, rising_candles(1, T0 + 50 * M)[0], size) is None  # a gap reads again
    assert cache.extend(SERIES, candles[-1], size + 1) is None  # a larger window reads again
