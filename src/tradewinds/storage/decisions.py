"""What the decision service reads and writes: enabled assignments, windows, evaluations, decisions.

`record_evaluations` writes everything one closed candle decided in one transaction: the last
evaluation of each assignment, its run of failures (and the disabling it may cause), and each
decision (the `decisions` row and the assignment's new target together), so a crash leaves either
all of it or none. A decision already recorded for an (assignment, candle) is returned again, not
written twice: a close redelivered after a crash republishes the intents it made.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import msgspec
import numpy as np
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.trading import Assignment, ParamValue, intent_id
from tradewinds.storage.bulk import bulk_statement, execute_many, id_list_query, select_rows
from tradewinds.storage.trading_models import (
    AssignmentRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
    UserRow,
)


async def load_enabled_assignments(engine: AsyncEngine) -> list[Assignment]:
    """Every assignment that may trade now: enabled, its user not paused, its account enabled and
    not paused. With its version's source."""
    query = (
        select(AssignmentRow, StrategyRow.name, StrategyVersionRow.number, StrategyVersionRow.source)
        .join(StrategyVersionRow, StrategyVersionRow.id == AssignmentRow.version_id)
        .join(StrategyRow, StrategyRow.id == StrategyVersionRow.strategy_id)
        .join(UserRow, UserRow.id == AssignmentRow.user_id)
        .join(TradingAccountRow, TradingAccountRow.id == AssignmentRow.account_id)
        .where(
            AssignmentRow.enabled.is_(True),
            UserRow.trading_paused.is_(False),
            TradingAccountRow.enabled.is_(True),
            TradingAccountRow.paused_reason.is_(None),
        )
        .order_by(AssignmentRow.id)
    )
    async with AsyncSession(engine) as session:
        rows = (await session.execute(query)).all()
    return [_assignment(row[0], row[1], row[2], row[3]) for row in rows]


def _assignment(row: AssignmentRow, strategy: str, number: int, source: str) -> Assignment:
    params: dict[str, ParamValue] = json.loads(row.params or "{}")
    return Assignment(
        id=row.id,
        user_id=row.user_id,
        strategy_name=strategy,
        version_id=row.version_id,
        version=number,
        source=source,
        exchange=row.exchange,
        symbol=row.symbol,
        timeframe=row.timeframe,
        account_id=row.account_id,
        allocation=Decimal(row.allocation),
        params=params,
        enabled=row.enabled,
        target=row.target,
    )


async def window_until(engine: AsyncEngine, key: SeriesKey, until_ms: int, count: int) -> CandleArrays:
    """The newest `count` stored candles of `key` opening at or before `until_ms`, oldest first."""
    query = text(
        "SELECT c.time, c.open, c.high, c.low, c.close, c.volume FROM candles c "
        "WHERE c.series_id = (SELECT id FROM candle_series WHERE exchange = :exchange AND symbol = :symbol "
        "AND timeframe = :timeframe) AND c.time <= :until ORDER BY c.time DESC LIMIT :count"
    )
    params = {
        "exchange": key.exchange,
        "symbol": key.symbol,
        "timeframe": key.timeframe.value,
        "until": until_ms,
        "count": count,
    }
    async with engine.connect() as conn:
        rows = list((await conn.execute(query, params)).all())
    rows.reverse()
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
    return CandleArrays(
        table[:, 0].astype(np.int64), *(np.ascontiguousarray(table[:, k]) for k in range(1, 6))
    )


async def newest_minutes(engine: AsyncEngine) -> dict[str, int]:
    """Per exchange, the open time of its newest stored 1-minute candle."""
    query = text(
        "SELECT s.exchange, (SELECT max(c.time) FROM candles c WHERE c.series_id = s.id) "
        "FROM candle_series s WHERE s.timeframe = :minute"
    )
    newest: dict[str, int] = {}
    async with engine.connect() as conn:
        for exchange, latest in (await conn.execute(query, {"minute": Timeframe.M1.value})).all():
            if latest is not None:
                newest[exchange] = max(int(latest), newest.get(exchange, 0))
    return newest


class EvaluationRecord(msgspec.Struct, frozen=True):
    """One assignment's evaluation at one closed candle (a Struct: 10,000 are made a wave, each
    for a tenth of a frozen dataclass's cost)."""

    assignment_id: int
    outcome: str  # EvaluationOutcome.value, or "stale" for a decision that will not trade
    target: str | None
    message: str | None
    failed: bool
    disable: bool = False  # disable at once (the engine will not run it any more)


class DecisionRequest(msgspec.Struct, frozen=True):
    """A decided target that differs from the assignment's (`stale`: recorded, no order)."""

    assignment_id: int
    target: str
    previous: str
    stale: bool


@dataclass(frozen=True)
class RecordedDecision:
    assignment_id: int
    intent_id: str
    target: str
    previous: str
    candle_time_ms: int
    candle_close: float
    created_ms: int
    stale: bool
    new: bool  # written now (False: recorded by an earlier delivery of the same close)


@dataclass(frozen=True)
class RecordOutcome:
    decisions: list[RecordedDecision]
    disabled: list[int]  # assignments disabled by this run of failures
    paused: list[int]  # decisions withheld: the user or the account was paused meanwhile


@dataclass(frozen=True)
class CloseRecord:
    """What one closed candle decided, for `record_closes`."""

    candle_time_ms: int
    candle_close: float
    records: Sequence[EvaluationRecord]
    decisions: Sequence[DecisionRequest]


async def record_evaluations(
    engine: AsyncEngine,
    candle_time_ms: int,
    candle_close: float,
    records: Sequence[EvaluationRecord],
    decisions: Sequence[DecisionRequest],
    max_failures: int,
    now_ms: int,
) -> RecordOutcome:
    closes = [CloseRecord(candle_time_ms, candle_close, records, decisions)]
    return (await record_closes(engine, closes, max_failures, now_ms))[0]


async def record_closes(
    engine: AsyncEngine, closes: Sequence[CloseRecord], max_failures: int, now_ms: int
) -> list[RecordOutcome]:
    """Several closes (of different series) in one transaction: all of it, or none. Each kind of
    write is one statement for all the closes (a statement per close cost a round trip each:
    200 closes took a second on SQLite)."""
    async with engine.begin() as conn:
        closes = await _out_of_date_as_stale(conn, closes)
        await _record_last_evaluations(conn, closes, now_ms)
        records = [r for close in closes for r in close.records]
        at_once = [r.assignment_id for r in records if r.disable]
        failed = [r.assignment_id for r in records if r.failed]
        disabled = await _disable_failing(conn, failed, max_failures, now_ms, at_once)
        # Decisions an earlier delivery of these closes recorded (the in-memory target has moved
        # on since, so the plan may not repeat them): returned again for their intents.
        existing = await _existing_decisions(conn, closes)
        decisions = [d for close in closes for d in close.decisions]
        blocked = await _paused(conn, [d.assignment_id for d in decisions if not d.stale])
        outcomes: list[RecordOutcome] = []
        fresh: list[tuple[CloseRecord, DecisionRequest]] = []
        for close in closes:
            earlier = [existing[(r.assignment_id, close.candle_time_ms)] for r in close.records]
            out = [e for e in earlier if e is not None]
            paused: list[int] = []
            for decision in close.decisions:
                key = (decision.assignment_id, close.candle_time_ms)
                if existing.get(key) is not None or decision.assignment_id in disabled:
                    continue
                if decision.assignment_id in blocked:
                    paused.append(decision.assignment_id)
                else:
                    fresh.append((close, decision))
            mine = {r.assignment_id for r in close.records} & disabled
            outcomes.append(RecordOutcome(out, sorted(mine), paused))
        made = await _decide(conn, fresh, now_ms)
        for outcome, close in zip(outcomes, closes, strict=True):
            outcome.decisions.extend(made.get(id(close), []))
        return outcomes


async def _out_of_date_as_stale(conn: AsyncConnection, closes: Sequence[CloseRecord]) -> list[CloseRecord]:
    """A decision on a close older than one its assignment was evaluated at already (a close
    redelivered after newer ones, its first delivery never recorded) is out of date: recorded as
    stale, so it places no order and moves no target (the newer close's decision stands)."""
    deciding = sorted({d.assignment_id for close in closes for d in close.decisions if not d.stale})
    if not deciding:
        return list(closes)
    rows = await select_rows(conn, _LAST_EVALUATED, {"ids": deciding})
    evaluated = {int(i): int(t) for i, t in rows}

    def dated(close: CloseRecord) -> CloseRecord:
        newer = {
            d.assignment_id
            for d in close.decisions
            if evaluated.get(d.assignment_id, 0) > close.candle_time_ms
        }
        if not newer:
            return close
        decisions = [
            msgspec.structs.replace(d, stale=True) if d.assignment_id in newer else d for d in close.decisions
        ]
        return replace(close, decisions=decisions)

    return [dated(close) for close in closes]


_LAST_EVALUATED = id_list_query(
    "SELECT id, last_eval_candle_ms FROM assignments WHERE id IN :ids[] AND last_eval_candle_ms IS NOT NULL"
)
_RECORDED_DECISIONS = id_list_query(
    "SELECT assignment_id, intent_id, target, previous, candle_time_ms, candle_close, created_ms, stale "
    "FROM decisions WHERE candle_time_ms = :candle AND assignment_id IN :ids[]"
)
# Paused: the user paused trading, the account was paused or disabled, or the assignment disabled.
_PAUSED = id_list_query(
    "SELECT a.id FROM assignments a JOIN users u ON u.id = a.user_id "
    "JOIN trading_accounts t ON t.id = a.account_id WHERE a.id IN :ids[] "
    "AND (u.trading_paused OR t.paused_reason IS NOT NULL OR NOT t.enabled OR NOT a.enabled)"
)

# An old close redelivered after newer ones (its acknowledgement was lost) moves nothing back.
_LAST_EVALUATION = bulk_statement(
    "UPDATE assignments SET last_eval_candle_ms = :candle, last_eval_outcome = :outcome, "
    "last_eval_target = :target, last_eval_message = :message, last_eval_ms = :now, "
    "consecutive_failures = CASE WHEN :failed THEN consecutive_failures + 1 ELSE 0 END "
    "WHERE id = :id AND (last_eval_candle_ms IS NULL OR last_eval_candle_ms <= :candle)"
)
_NEW_DECISION = bulk_statement(
    "INSERT INTO decisions (assignment_id, intent_id, candle_time_ms, target, previous, candle_close, "
    "stale, created_ms) VALUES (:assignment_id, :intent_id, :candle_time_ms, :target, :previous, "
    ":candle_close, :stale, :created_ms)"
)
_NEW_TARGET = bulk_statement("UPDATE assignments SET target = :target, updated_ms = :now WHERE id = :id")


async def _record_last_evaluations(conn: AsyncConnection, closes: Sequence[CloseRecord], now_ms: int) -> None:
    rows = [
        {
            "id": r.assignment_id,
            "candle": close.candle_time_ms,
            "outcome": r.outcome,
            "target": r.target,
            "message": r.message,
            "failed": r.failed,
            "now": now_ms,
        }
        for close in closes
        for r in close.records
    ]
    await execute_many(conn, _LAST_EVALUATION, rows)


async def _disable_failing(
    conn: AsyncConnection, failed: list[int], max_failures: int, now_ms: int, at_once: Sequence[int] = ()
) -> set[int]:
    if not failed:
        return set()
    rows = await conn.execute(
        select(AssignmentRow.id, AssignmentRow.consecutive_failures, AssignmentRow.last_eval_message).where(
            AssignmentRow.id.in_(failed),
            AssignmentRow.enabled.is_(True),
            (AssignmentRow.consecutive_failures >= max_failures) | AssignmentRow.id.in_(list(at_once)),
        )
    )
    disabled: set[int] = set()
    for assignment_id, failures, message in rows.all():
        if assignment_id in at_once:
            reason = f"disabled: {message}"
        else:
            reason = f"disabled after {failures} failed evaluations in a row; the last: {message}"
        await conn.execute(
            update(AssignmentRow)
            .where(AssignmentRow.id == assignment_id)
            .values(enabled=False, disabled_reason=reason, updated_ms=now_ms)
        )
        disabled.add(int(assignment_id))
    return disabled


async def _existing_decisions(
    conn: AsyncConnection, closes: Sequence[CloseRecord]
) -> dict[tuple[int, int], RecordedDecision | None]:
    """Per (assignment, candle time) of every record: the decision already recorded, or None."""
    found: dict[tuple[int, int], RecordedDecision | None] = {
        (r.assignment_id, close.candle_time_ms): None for close in closes for r in close.records
    }
    by_time: dict[int, list[int]] = {}
    for close in closes:
        by_time.setdefault(close.candle_time_ms, []).extend(r.assignment_id for r in close.records)
    for candle_time_ms, assignment_ids in by_time.items():  # one query per candle time (a wave has one)
        if not assignment_ids:
            continue
        rows = await select_rows(conn, _RECORDED_DECISIONS, {"candle": candle_time_ms, "ids": assignment_ids})
        for aid, the_intent, target, previous, candle_ms, price, created, stale in rows:
            found[(int(aid), int(candle_ms))] = RecordedDecision(
                int(aid),
                the_intent,
                target,
                previous,
                int(candle_ms),
                float(price),
                int(created),
                bool(stale),
                new=False,
            )
    return found


async def _paused(conn: AsyncConnection, assignment_ids: list[int]) -> set[int]:
    """Assignments whose user paused trading or whose account was paused or disabled."""
    if not assignment_ids:
        return set()
    return {int(r[0]) for r in await select_rows(conn, _PAUSED, {"ids": assignment_ids})}


async def _decide(
    conn: AsyncConnection, decisions: Sequence[tuple[CloseRecord, DecisionRequest]], now_ms: int
) -> dict[int, list[RecordedDecision]]:
    """Insert the decisions and move the targets (a stale decision moves none), in two bulk
    statements; the decisions made, by close (`id(close)`)."""
    made: dict[int, list[RecordedDecision]] = {}
    if not decisions:
        return made
    rows = []
    moves = []
    for close, d in decisions:
        decision = RecordedDecision(
            d.assignment_id,
            intent_id(d.assignment_id, close.candle_time_ms),
            d.target,
            d.previous,
            close.candle_time_ms,
            close.candle_close,
            now_ms,
            d.stale,
            new=True,
        )
        made.setdefault(id(close), []).append(decision)
        rows.append(
            {
                "assignment_id": d.assignment_id,
                "intent_id": decision.intent_id,
                "candle_time_ms": close.candle_time_ms,
                "target": d.target,
                "previous": d.previous,
                "candle_close": close.candle_close,
                "stale": d.stale,
                "created_ms": now_ms,
            }
        )
        if not d.stale:
            moves.append({"id": d.assignment_id, "target": d.target, "now": now_ms})
    await execute_many(conn, _NEW_DECISION, rows)
    await execute_many(conn, _NEW_TARGET, moves)
    return made


async def assignment_targets(engine: AsyncEngine, assignment_ids: Sequence[int]) -> dict[int, str]:
    """The recorded target of each assignment (what the decision service compares results with)."""
    if not assignment_ids:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AssignmentRow.id, AssignmentRow.target).where(AssignmentRow.id.in_(list(assignment_ids)))
        )
        return {int(i): str(t) for i, t in rows.all()}
