"""The decision service's pure planning: staleness by the exchange's clock, what a reply decides,
the roster, the markets wanted, and window rules."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tradewinds.core.decision.markets import wanted_markets
from tradewinds.core.decision.plan import ExchangeClocks, Roster, intent_bundles, is_stale, plan_results
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import ClosedCandle, CloseReason
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.trading import Assignment, EvaluationOutcome, EvaluationResult, intent_id
from tradewinds.eval.window_rules import (
    DEFAULT_WINDOW,
    MAX_WINDOW,
    OFFSET_MARGIN,
    IndicatorCall,
    candles_needed,
    decay_candles,
    window_size,
)
from tradewinds.storage.decisions import RecordedDecision

M = 60_000
T = 1_700_000_000_000 - 1_700_000_000_000 % M


def assignment(aid: int, target: str = "short", symbol: str = "A/USD", timeframe: str = "1m") -> Assignment:
    return Assignment(
        aid, 1, "s", 10 + aid, 1, "return nil", "sim", symbol, timeframe, 1, Decimal(1000), {}, True, target
    )


def test_a_close_is_stale_only_when_older_than_one_period_by_the_exchange_clock() -> None:
    # Minute T closed by the arrival of minute T+1: the clock is the end of T+1.
    assert not is_stale(T, Timeframe.M1, T + 2 * M)
    assert is_stale(T, Timeframe.M1, T + 2 * M + 1)
    assert not is_stale(T, Timeframe.M1, None)  # nothing known yet
    hour = Timeframe.H1.ms
    assert not is_stale(T, Timeframe.H1, T + hour + 30 * M)  # a rollup closed late is still fresh
    assert is_stale(T, Timeframe.H1, T + 2 * hour + M)


def test_the_clock_is_read_as_it_stood_when_the_close_was_published() -> None:
    clocks = ExchangeClocks()
    wall = 5_000_000
    for k in range(10):  # an accelerated exchange: a simulated minute per 100 ms of wall time
        clocks.saw_minute("sim", T + k * M, wall + k * 100)
    # The close of minute T+3, published when minute T+4 was forming, is read much later:
    assert clocks.now("sim") == T + 10 * M
    assert not is_stale(T + 3 * M, Timeframe.M1, clocks.at("sim", wall + 4 * 100))
    # A close published before anything was seen is judged by the earliest clock known.
    assert clocks.at("sim", wall - 10_000) == T + M
    assert is_stale(T - 5 * M, Timeframe.M1, clocks.at("sim", wall - 10_000))
    # Time never runs backwards: an older minute seen later adds nothing.
    clocks.saw_minute("sim", T, wall + 10_000)
    assert clocks.now("sim") == T + 10 * M
    assert clocks.at("other", wall) is None


def test_plan_records_every_due_assignment_and_decides_changes_only() -> None:
    due = [assignment(1, "short"), assignment(2, "long"), assignment(3), assignment(4), assignment(5)]
    results = [
        EvaluationResult(1, EvaluationOutcome.DECIDED, "long"),
        EvaluationResult(2, EvaluationOutcome.DECIDED, "long"),  # already long
        EvaluationResult(3, EvaluationOutcome.ERROR, None, "line 2: boom"),
        EvaluationResult(4, EvaluationOutcome.WARMING_UP, None, "warming up"),
    ]
    plan = plan_results(due, results, stale=False)
    assert [(r.assignment_id, r.outcome, r.failed) for r in plan.records] == [
        (1, "decided", False),
        (2, "decided", False),
        (3, "error", True),
        (4, "warming_up", False),
        (5, "error", True),  # left out of the reply
    ]
    assert [(d.assignment_id, d.target, d.previous, d.stale) for d in plan.decisions] == [
        (1, "long", "short", False)
    ]


def test_plan_on_a_stale_close_records_stale_and_marks_the_decision() -> None:
    due = [assignment(1), assignment(2)]
    results = [
        EvaluationResult(1, EvaluationOutcome.DECIDED, "long"),
        EvaluationResult(2, EvaluationOutcome.TIMEOUT, None, "time limit"),
    ]
    plan = plan_results(due, results, stale=True)
    assert [(r.outcome, r.failed) for r in plan.records] == [("stale", False), ("timeout", True)]
    assert [(d.assignment_id, d.stale) for d in plan.decisions] == [(1, True)]


def test_roster_indexes_by_market_and_tracks_targets() -> None:
    roster = Roster(
        [assignment(2), assignment(1), assignment(3, symbol="B/USD"), assignment(4, timeframe="5m")]
    )
    assert [a.id for a in roster.due("sim", "A/USD", "1m")] == [1, 2]
    roster.set_target(1, "long")
    assert roster.due("sim", "A/USD", "1m")[0].target == "long"
    roster.remove(2)
    assert [a.id for a in roster.due("sim", "A/USD", "1m")] == [1]
    assert roster.markets() == {"sim": {("A/USD", "1m"), ("B/USD", "1m"), ("A/USD", "5m")}}
    assert roster.due("sim", "C/USD", "1m") == []


def test_markets_wanted_carry_the_history_in_minutes() -> None:
    assignments = [assignment(1), assignment(2, timeframe="1h"), assignment(3, symbol="B/USD")]
    wanted = wanted_markets(assignments, {1: 500, 2: 300, 3: 10})
    assert wanted["sim"].symbols == ["A/USD", "B/USD"]
    assert wanted["sim"].history_minutes == {"A/USD": 300 * 60, "B/USD": 10}


def test_window_rules() -> None:
    assert decay_candles(0.5) == math.ceil(math.log(1e-13) / math.log(0.5))
    assert candles_needed(IndicatorCall("sma", (10.0,))) == 10
    assert candles_needed(IndicatorCall("ema", (50.0,))) == 50 + decay_candles(2 / 51)
    assert candles_needed(IndicatorCall("rsi", (14.0,))) == 15 + decay_candles(1 / 14)
    macd = candles_needed(IndicatorCall("macd", (12.0, 26.0, 9.0)))
    assert macd == 34 + decay_candles(2 / 27) + decay_candles(2 / 10)
    # an indicator of an indicator needs its source's candles first
    assert candles_needed(IndicatorCall("sma", (5.0,), source_candles=400)) == 404
    assert window_size([]) == DEFAULT_WINDOW
    assert window_size([10, 700]) == 700 + OFFSET_MARGIN
    assert window_size([10**9]) == MAX_WINDOW


@pytest.mark.parametrize("period", [5, 50, 200])
def test_decay_meets_the_tolerance(period: int) -> None:
    alpha = 2 / (period + 1)
    k = decay_candles(alpha)
    assert (1 - alpha) ** k <= 1e-13 < (1 - alpha) ** (k - 1)


def test_a_disabled_result_fails_and_disables_at_once() -> None:
    result = EvaluationResult(1, EvaluationOutcome.DISABLED, None, "stopped the process 3 times")
    [record] = plan_results([assignment(1)], [result], stale=False).records
    assert record.failed and record.disable and record.outcome == "disabled"


def test_a_close_s_intents_travel_in_bundles_whose_id_repeats_for_the_same_intents() -> None:
    roster = Roster([assignment(aid) for aid in range(1, 6)])
    close = ClosedCandle(
        "sim", "A/USD", "1m", Candle(60_000, 1.0, 1.0, 1.0, 1.0, 1.0), CloseReason.NEXT_CANDLE
    )

    def decided(aid: int, stale: bool = False) -> RecordedDecision:
        return RecordedDecision(aid, intent_id(aid, 60_000), "long", "short", 60_000, 1.0, 7, stale, new=True)

    decisions = [decided(1), decided(2, stale=True), decided(3), decided(4), decided(99), decided(5)]
    bundles = intent_bundles(close, decisions, roster, size=2)
    # Stale decisions place no order; an assignment no longer enabled (99) has none either.
    assert [[i.assignment_id for i in b.intents] for b in bundles] == [[1, 3], [4, 5]]
    assert all(i.target == "long" and i.candle_time_ms == 60_000 for b in bundles for i in b.intents)
    again = intent_bundles(close, list(decisions), roster, size=2)  # as a redelivered close makes them
    assert [b.bundle_id for b in again] == [b.bundle_id for b in bundles]  # a redelivery is stored once
    assert len({b.bundle_id for b in bundles}) == 2
    assert intent_bundles(close, [decided(2, stale=True)], roster, size=2) == []
