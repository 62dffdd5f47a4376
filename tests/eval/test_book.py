"""StrategyBook: a request's items evaluated against cached, compiled strategies."""

from __future__ import annotations

import numpy as np
import pytest

from tests.eval.helpers import (
    BROKEN_LINE_3,
    FOLLOW_POSITION,
    KEEP,
    LONG_ABOVE_SMA,
    SYNTAX,
    item,
    request,
    rising,
)
from tradewinds.domain.trading import EvaluationOutcome
from tradewinds.eval.book import StrategyBook
from tradewinds.eval.window_codec import WindowError, decode_window, encode_window
from tradewinds.strategy.live import LiveEvaluator


class CountingEvaluator(LiveEvaluator):
    def __init__(self) -> None:
        super().__init__()
        self.compiled = 0
        self.removed: list[int] = []

    def add_strategy(self, source, params=None, strategy_id=None):  # type: ignore[no-untyped-def]
        self.compiled += 1
        return super().add_strategy(source, params, strategy_id)

    def remove_strategy(self, strategy_id: int) -> None:
        self.removed.append(strategy_id)
        super().remove_strategy(strategy_id)


@pytest.fixture
def evaluator() -> CountingEvaluator:
    return CountingEvaluator()


def test_each_outcome_per_assignment(evaluator: CountingEvaluator) -> None:
    book = StrategyBook(lambda: evaluator, worker="w1")
    reply = book.evaluate(
        request(
            rising(20),
            item(1, LONG_ABOVE_SMA),
            item(2, KEEP),
            item(3, BROKEN_LINE_3),
            item(4, SYNTAX),
            item(5, LONG_ABOVE_SMA, version_id=1, params={"period": 50}),
        )
    )
    assert reply.worker == "w1"
    by_id = {r.assignment_id: r for r in reply.results}
    assert [r.assignment_id for r in reply.results] == [1, 2, 3, 4, 5]
    assert by_id[1].outcome is EvaluationOutcome.DECIDED and by_id[1].target == "long"
    assert by_id[2].outcome is EvaluationOutcome.KEPT and by_id[2].target is None
    assert by_id[3].outcome is EvaluationOutcome.ERROR
    assert by_id[3].message is not None and by_id[3].message.startswith("line 3:")
    assert by_id[4].outcome is EvaluationOutcome.ERROR
    assert by_id[4].message is not None and "syntax error: line 1" in by_id[4].message
    assert by_id[5].outcome is EvaluationOutcome.WARMING_UP
    assert by_id[5].message is not None and "ta.sma(50) needs 50 candles, has 20" in by_id[5].message


def test_compiled_once_per_version_params_and_position(evaluator: CountingEvaluator) -> None:
    book = StrategyBook(lambda: evaluator)
    same = [item(i, LONG_ABOVE_SMA, version_id=7) for i in range(1, 6)]
    book.evaluate(request(rising(20), *same))
    book.evaluate(request(rising(21), *same))
    assert evaluator.compiled == 1
    book.evaluate(request(rising(21), item(9, LONG_ABOVE_SMA, version_id=7, params={"period": 3})))
    assert evaluator.compiled == 2


def test_position_is_each_assignments_own(evaluator: CountingEvaluator) -> None:
    book = StrategyBook(lambda: evaluator)
    reply = book.evaluate(
        request(
            rising(5),
            item(1, FOLLOW_POSITION, version_id=3, position="long"),
            item(2, FOLLOW_POSITION, version_id=3, position="short"),
            item(3, FOLLOW_POSITION, version_id=3, position="sideways"),
        )
    )
    targets = [(r.outcome, r.target) for r in reply.results]
    assert targets[0] == (EvaluationOutcome.DECIDED, "short")
    assert targets[1] == (EvaluationOutcome.DECIDED, "long")
    assert targets[2][0] is EvaluationOutcome.ERROR
    assert "unknown position 'sideways'" in (reply.results[2].message or "")


def test_least_recently_used_strategies_are_removed(evaluator: CountingEvaluator) -> None:
    book = StrategyBook(lambda: evaluator, capacity=2)
    for version in (1, 2, 3):
        book.evaluate(request(rising(10), item(version, KEEP)))
    assert len(book) == 2
    assert evaluator.removed == [1]


def test_a_bad_window_is_an_error_for_every_item(evaluator: CountingEvaluator) -> None:
    book = StrategyBook(lambda: evaluator)
    bad = request(rising(10), item(1, KEEP), item(2, KEEP))
    bad = type(bad)(**{**{f: getattr(bad, f) for f in bad.__struct_fields__}, "window": bad.window[:5]})
    reply = book.evaluate(bad)
    assert [r.outcome for r in reply.results] == [EvaluationOutcome.ERROR] * 2
    assert "6 columns" in (reply.results[0].message or "")


def test_window_codec_round_trip_and_checks() -> None:
    window = rising(4)
    back = decode_window(encode_window(window))
    assert np.array_equal(back.time, window.time) and np.array_equal(back.close, window.close)
    with pytest.raises(WindowError, match="no candles"):
        decode_window([b""] * 6)
    columns = encode_window(window)
    columns[0] = np.array([3.0, 2.0, 1.0, 0.0]).tobytes()
    with pytest.raises(WindowError, match="ascending"):
        decode_window(columns)
