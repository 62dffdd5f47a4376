"""Pure planning for the decision service: who is due at a close, staleness, what a reply
decides, and the messages that carry the decided intents."""

from __future__ import annotations

import bisect
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.messages import ClosedCandle
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.trading import (
    Assignment,
    EvaluationItem,
    EvaluationOutcome,
    EvaluationRequest,
    EvaluationResult,
    OrderIntent,
    OrderIntents,
)
from tradewinds.eval.window_codec import encode_window
from tradewinds.storage.decisions import DecisionRequest, EvaluationRecord, RecordedDecision

SeriesId = tuple[str, str, str]  # exchange, symbol, timeframe
FAILURES = (
    EvaluationOutcome.ERROR,
    EvaluationOutcome.TIMEOUT,
    EvaluationOutcome.MEMORY,
    EvaluationOutcome.DISABLED,
)
STALE = "stale"


class Roster:
    """The enabled assignments, indexed by market and timeframe, with their current targets."""

    def __init__(self, assignments: Iterable[Assignment] = ()) -> None:
        self._by_id: dict[int, Assignment] = {}
        self._by_series: dict[SeriesId, dict[int, Assignment]] = defaultdict(dict)
        self.replace(assignments)

    def replace(self, assignments: Iterable[Assignment]) -> None:
        self._by_id = {a.id: a for a in assignments}
        self._by_series = defaultdict(dict)
        for a in self._by_id.values():
            self._by_series[(a.exchange, a.symbol, a.timeframe)][a.id] = a

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Assignment]:
        return iter(self._by_id.values())

    def get(self, assignment_id: int) -> Assignment | None:
        return self._by_id.get(assignment_id)

    def due(self, exchange: str, symbol: str, timeframe: str) -> list[Assignment]:
        """The assignments that decide at a close of this market and timeframe, by id."""
        found = self._by_series.get((exchange, symbol, timeframe))
        return sorted(found.values(), key=lambda a: a.id) if found else []

    def set_target(self, assignment_id: int, target: str) -> None:
        a = self._by_id.get(assignment_id)
        if a is None:
            return
        changed = msgspec.structs.replace(a, target=target)
        self._by_id[assignment_id] = changed
        self._by_series[(a.exchange, a.symbol, a.timeframe)][assignment_id] = changed

    def remove(self, assignment_id: int) -> None:
        a = self._by_id.pop(assignment_id, None)
        if a is not None:
            self._by_series[(a.exchange, a.symbol, a.timeframe)].pop(assignment_id, None)

    def markets(self) -> dict[str, set[tuple[str, str]]]:
        """Per exchange, the (symbol, timeframe) pairs some assignment trades."""
        out: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for exchange, symbol, timeframe in self._by_series:
            if self._by_series[(exchange, symbol, timeframe)]:
                out[exchange].add((symbol, timeframe))
        return dict(out)


class ExchangeClocks:
    """Each exchange's own clock: the end of the newest 1-minute candle seen from it, over time.

    Not the wall clock: a replay or an accelerated simulator runs on its own time, and its closes
    are as fresh as its candles say. A close is judged by the clock *when it was published* (the
    JetStream timestamp), so a decision service that lags behind a fast simulator, or catches up
    after a restart, does not call fresh closes stale, and does call a backlog it missed stale.
    """

    def __init__(self, keep_ms: int = 15 * MINUTE_MS) -> None:
        self.keep_ms = keep_ms
        self._samples: dict[str, list[tuple[int, int]]] = {}  # (wall ms, clock ms), ascending

    def saw(self, exchange: str, end_ms: int, wall_ms: int) -> None:
        samples = self._samples.setdefault(exchange, [])
        if samples and end_ms <= samples[-1][1]:
            return
        if samples:  # a close published in the past (a backlog) never moves time backwards
            wall_ms = max(wall_ms, samples[-1][0])
        samples.append((wall_ms, end_ms))
        if len(samples) > 64 and wall_ms - samples[0][0] > self.keep_ms:
            del samples[: len(samples) // 2]

    def saw_minute(self, exchange: str, open_ms: int, wall_ms: int) -> None:
        self.saw(exchange, open_ms + MINUTE_MS, wall_ms)

    def now(self, exchange: str) -> int | None:
        samples = self._samples.get(exchange)
        return samples[-1][1] if samples else None

    def at(self, exchange: str, wall_ms: int) -> int | None:
        """The clock as it stood at `wall_ms` (before the first sample: the first sample)."""
        samples = self._samples.get(exchange)
        if not samples:
            return None
        index = bisect.bisect_right(samples, (wall_ms, 2**62)) - 1
        return samples[max(index, 0)][1]


def is_stale(open_ms: int, timeframe: Timeframe, clock_ms: int | None) -> bool:
    """A close older than one period of its timeframe by its exchange's clock places no order.

    A fresh close ends at most one period before the clock: its market's next candle (whose end
    is the clock) is the one forming. A backfill after an outage ends further back.
    """
    if clock_ms is None:
        return False
    return clock_ms - (open_ms + timeframe.ms) > timeframe.ms


def evaluation_request(
    exchange: str, symbol: str, timeframe: str, open_ms: int, window: CandleArrays, due: Sequence[Assignment]
) -> EvaluationRequest:
    items = [EvaluationItem(a.id, a.version_id, a.source, dict(a.params), a.target) for a in due]
    return EvaluationRequest(
        request_id=uuid.uuid4().hex,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        candle_time_ms=open_ms,
        window=encode_window(window),
        items=items,
    )


@dataclass(frozen=True)
class Plan:
    records: list[EvaluationRecord]
    decisions: list[DecisionRequest]


def plan_results(due: Sequence[Assignment], results: Sequence[EvaluationResult], stale: bool) -> Plan:
    """What to record for each due assignment, and the decisions: a DECIDED target that differs
    from the assignment's. An assignment the reply left out counts as failed."""
    by_id = {r.assignment_id: r for r in results}
    records: list[EvaluationRecord] = []
    decisions: list[DecisionRequest] = []
    for a in due:
        result = by_id.get(a.id)
        if result is None:
            records.append(
                EvaluationRecord(
                    a.id, EvaluationOutcome.ERROR.value, None, "the worker returned no result", True
                )
            )
            continue
        failed = result.outcome in FAILURES
        outcome = result.outcome.value
        message = result.message
        if stale and not failed:
            outcome = STALE
            message = "a backfilled close, older than one period by the exchange's clock: no order"
        disable = result.outcome is EvaluationOutcome.DISABLED
        records.append(EvaluationRecord(a.id, outcome, result.target, message, failed, disable))
        if (
            result.outcome is EvaluationOutcome.DECIDED
            and result.target is not None
            and result.target != a.target
        ):
            decisions.append(DecisionRequest(a.id, result.target, a.target, stale))
    return Plan(records, decisions)


def group_by_series(items: Iterable[tuple[SeriesId, object]]) -> dict[SeriesId, list[object]]:
    """Items per series, each series keeping its arrival order."""
    out: dict[SeriesId, list[object]] = defaultdict(list)
    for series, item in items:
        out[series].append(item)
    return dict(out)


def intent_bundles(
    close: ClosedCandle, decisions: Sequence[RecordedDecision], roster: Roster, size: int
) -> list[OrderIntents]:
    """The close's intents (not stale, assignment still enabled) as messages of at most `size`,
    each with an id that is equal for the same intents of the same close (stored once)."""
    intents = [i for i in (_intent(d, roster) for d in decisions if not d.stale) if i is not None]
    bundles = []
    for start in range(0, len(intents), size):
        chunk = intents[start : start + size]
        digest = hashlib.blake2b("|".join(i.intent_id for i in chunk).encode(), digest_size=8).hexdigest()
        bundle_id = f"{close.exchange}:{close.symbol}:{close.timeframe}:{close.candle.time}:{digest}"
        bundles.append(OrderIntents(bundle_id=bundle_id, intents=chunk))
    return bundles


def _intent(decision: RecordedDecision, roster: Roster) -> OrderIntent | None:
    assignment = roster.get(decision.assignment_id)
    if assignment is None:  # disabled or removed meanwhile: its target is recorded, nothing trades
        return None
    return OrderIntent(
        intent_id=decision.intent_id,
        assignment_id=assignment.id,
        user_id=assignment.user_id,
        account_id=assignment.account_id,
        exchange=assignment.exchange,
        symbol=assignment.symbol,
        timeframe=assignment.timeframe,
        target=decision.target,
        candle_time_ms=decision.candle_time_ms,
        candle_close=decision.candle_close,
        decided_ms=decision.created_ms,
    )
