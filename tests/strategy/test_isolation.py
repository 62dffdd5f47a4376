"""Strategy isolation: no strategy can make another's evaluation fail, slow it, or change its
memory verdict, and an evaluator failure that is not the strategy's own error is contained."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence

import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy import (
    Evaluation,
    Limits,
    LiveEvaluator,
    Outcome,
    StrategyLimitExceeded,
    SupervisedEvaluator,
    run_over_history,
)
from tradewinds.strategy.errors import EvaluatorFailure

# Spins until the time limit; the loop is tuned so the count hook often fires between the two
# writes of `x` (on the old engine, between recording a global's write and storing its name).
ATTACKER = "while true do for j = 1, 225 do end x = nil x = 1 end"
VICTIM = 'return "long"'


def mib_strategy(mib: int) -> str:
    """Holds `mib` MiB (1 MiB arrays of numbers) while it runs, garbage once it returns."""
    return (
        "local parts = {}\n"
        f"for k = 1, {mib} do local t = {{}} for i = 1, 2^17 do t[i] = i end parts[k] = t end\n"
        "return nil"
    )


def test_an_attacker_cannot_break_the_evaluation_of_others(window: CandleArrays) -> None:
    evaluator = LiveEvaluator(Limits(time_ms=5))
    victim = evaluator.add_strategy(VICTIM)
    attacker = evaluator.add_strategy(ATTACKER)
    for _ in range(300):
        attacked, decided = evaluator.evaluate(window, [attacker, victim])
        assert attacked.outcome is Outcome.TIMEOUT
        assert decided.outcome is Outcome.DECIDED and decided.target is not None
    evaluator.remove_strategy(attacker)
    assert evaluator.evaluate(window, [victim])[0].outcome is Outcome.DECIDED


def test_globals_written_before_a_stop_do_not_leak(window: CandleArrays) -> None:
    evaluator = LiveEvaluator(Limits(time_ms=5))
    writer = evaluator.add_strategy("seen = 1 while true do end")
    reader = evaluator.add_strategy('if seen == nil then return "long" end return "short"')
    for _ in range(20):
        results = evaluator.evaluate(window, [writer, reader])
        assert results[1].target is not None and results[1].target.value == "long"


def test_an_engine_failure_names_the_strategy_that_was_running(window: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    first = evaluator.add_strategy(VICTIM)
    second = evaluator.add_strategy(VICTIM)
    # The engine failing (not the strategy): an exception out of the runtime's evaluation call.
    evaluator.runtime.api.live["evaluate_one"] = evaluator.runtime.lua.eval(
        "function() error('engine broke') end"
    )
    with pytest.raises(EvaluatorFailure) as info:
        evaluator.evaluate(window, [first, second])
    assert info.value.strategy_id == first and info.value.index == 0


def test_a_crashed_child_is_replaced_and_the_batch_finished(window: CandleArrays) -> None:
    # A generous budget lets this pattern run for seconds in C; the child is killed meanwhile, as
    # if the engine had crashed under it.
    limits = Limits(time_ms=5000, pattern_budget=1e15)
    with SupervisedEvaluator(limits) as supervised:
        before = supervised.add_strategy(VICTIM)
        crashing = supervised.add_strategy("return ('a'):rep(3000):find('.-.-b')")
        after = supervised.add_strategy('return "short"')
        pid = supervised._shared._process.pid
        threading.Timer(0.5, os.kill, (pid, signal.SIGSEGV)).start()
        results = supervised.evaluate(window, [before, crashing, after])
        assert [r.outcome for r in results] == [Outcome.DECIDED, Outcome.ERROR, Outcome.DECIDED]
        assert "crashed" in (results[1].message or "")
        assert supervised.restarts == 1 and supervised.quarantined(crashing)
        assert [r.outcome for r in supervised.evaluate(window, [before, after])] == [Outcome.DECIDED] * 2


class _BrokenEngine(LiveEvaluator):
    """An evaluator whose engine fails while strategy 2 runs (not the strategy's own error)."""

    def evaluate(self, window: CandleArrays, strategy_ids: Sequence[int]) -> list[Evaluation]:
        if 2 in strategy_ids:
            raise EvaluatorFailure(2, list(strategy_ids).index(2), "LuaError: stack traceback: internals")
        return super().evaluate(window, strategy_ids)


def test_an_engine_failure_replaces_the_child_and_charges_the_strategy(window: CandleArrays) -> None:
    with SupervisedEvaluator(make_evaluator=_BrokenEngine) as supervised:
        ids = [supervised.add_strategy(VICTIM, strategy_id=k) for k in (1, 2, 3)]
        results = supervised.evaluate(window, ids)
        assert [r.outcome for r in results] == [Outcome.DECIDED, Outcome.ERROR, Outcome.DECIDED]
        assert results[1].message == (
            "the evaluation failed inside Tradewinds; the evaluation process was stopped and replaced"
        )
        assert supervised.restarts == 1 and supervised.quarantined(2)
        again = supervised.evaluate(window, ids)
        assert [r.outcome for r in again] == [Outcome.DECIDED, Outcome.ERROR, Outcome.DECIDED]
        assert again[1].quarantined and supervised._shared.restarts == 1


def test_supervised_attacker_never_breaks_the_worker(window: CandleArrays) -> None:
    with SupervisedEvaluator(Limits(time_ms=20)) as supervised:
        victim = supervised.add_strategy(VICTIM)
        attacker = supervised.add_strategy(ATTACKER)
        for _ in range(100):
            results = supervised.evaluate(window, [attacker, victim])
            assert results[1].outcome is Outcome.DECIDED
        assert supervised.restarts == 0


# Item 2: each evaluation has its own memory budget.

SLOW = Limits(time_ms=500)  # filling tens of MiB with the JIT off takes longer than 50 ms


def test_garbage_left_by_one_strategy_does_not_count_against_the_next(window: CandleArrays) -> None:
    evaluator = LiveEvaluator(SLOW)
    garbage = evaluator.add_strategy(mib_strategy(25))
    twelve = evaluator.add_strategy(mib_strategy(12))
    assert evaluator.evaluate(window, [twelve])[0].outcome is Outcome.KEPT
    for _ in range(3):
        left, after = evaluator.evaluate(window, [garbage, twelve])
        assert left.outcome is Outcome.KEPT
        assert after.outcome is Outcome.KEPT, after.message


def test_a_victim_near_the_limit_keeps_its_verdict_after_an_attacker(window: CandleArrays) -> None:
    evaluator = LiveEvaluator(SLOW)
    attacker = evaluator.add_strategy(ATTACKER)
    victim = evaluator.add_strategy(mib_strategy(27))
    for _ in range(5):
        evaluator.evaluate(window, [attacker])
    assert evaluator.evaluate(window, [victim])[0].outcome is Outcome.KEPT
    # and what does not fit fails the same way alone and after others
    too_big = evaluator.add_strategy(mib_strategy(40))
    alone = evaluator.evaluate(window, [too_big])[0]
    after = evaluator.evaluate(window, [attacker, victim, too_big])[2]
    assert alone.outcome is after.outcome is Outcome.MEMORY


def test_memory_verdict_is_the_same_live_and_in_a_backtest(candles: CandleArrays) -> None:
    per_candle = mib_strategy(20)
    evaluator = LiveEvaluator(SLOW)
    sid = evaluator.add_strategy(per_candle)
    assert evaluator.evaluate(candles.slice(0, 30), [sid])[0].outcome is Outcome.KEPT
    run = run_over_history(per_candle, candles.slice(0, 30), limits=SLOW)
    assert (run.decisions == 0).all()
    too_big = mib_strategy(40)
    big = evaluator.add_strategy(too_big)
    assert evaluator.evaluate(candles.slice(0, 30), [big])[0].outcome is Outcome.MEMORY
    with pytest.raises(StrategyLimitExceeded, match="memory limit of 32 MiB exceeded at candle 0"):
        run_over_history(too_big, candles.slice(0, 30), limits=SLOW)


# Item 6: work in C is bounded, and a strategy that stopped a child is quarantined.

C_BOUND = {
    "balanced match": 'return ("("):rep(30000):find("%b()")',
    "optional items": 'return ("a"):rep(25):find(("a?"):rep(25) .. ("a"):rep(25))',
    "back reference": 'return ("a"):rep(20000):find("(a)%1%1%1%1b")',
    "literal search": 'return ("a"):rep(4e6):find(("a"):rep(3e6) .. "b", 1, true)',
    "frontier": 'return ("a "):rep(3000):find("%f[%a]" .. (".-"):rep(2) .. "b")',
    "gsub": 'return (("("):rep(30000):gsub("%b()", ""))',
    "sort": "local t = {} for i = 1, 300000 do t[i] = -i end table.sort(t) return nil",
    "sort by a C function": "local t = {} for i = 1, 3e5 do t[i] = i end table.sort(t, rawequal) return nil",
}


@pytest.mark.parametrize("case", sorted(C_BOUND))
def test_work_in_c_is_refused_up_front(window: CandleArrays, case: str) -> None:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(C_BOUND[case])
    started = time.monotonic()
    (result,) = evaluator.evaluate(window, [sid])
    elapsed_ms = (time.monotonic() - started) * 1000
    assert result.outcome is Outcome.ERROR, result
    assert "time limit" in (result.message or "")
    assert elapsed_ms < 100, f"took {elapsed_ms:.0f} ms"


def test_ordinary_patterns_and_sorts_still_work(window: CandleArrays) -> None:
    evaluator = LiveEvaluator()
    sid = evaluator.add_strategy(
        """
        local base, quote = ("BTC/USD"):match("^(%a+)/(%a+)$")
        local t = {} for i = 1, 1000 do t[i] = (i * 7919) % 1000 end table.sort(t)
        local n = select(2, ("a b c d"):gsub("%s+", " "))
        if base == "BTC" and quote == "USD" and t[1] == 0 and n == 3 and ("x(y)z"):find("%b()") == 2 then
          return "long"
        end
        """
    )
    assert evaluator.evaluate(window, [sid])[0].outcome is Outcome.DECIDED


def test_a_strategy_that_stopped_a_child_is_quarantined_then_disabled(window: CandleArrays) -> None:
    # Within this (too generous) budget the pattern runs about a second in C.
    with SupervisedEvaluator(Limits(pattern_budget=1e12), disable_after=3) as supervised:
        others = [
            supervised.add_strategy(f"if close() > close({k}) then return 'long' end") for k in range(1, 200)
        ]
        stuck = supervised.add_strategy("return ('a'):rep(999):find('.-.-b')")
        ids = [*others, stuck]
        first = supervised.evaluate(window, ids)
        assert first[-1].outcome is Outcome.TIMEOUT and not first[-1].quarantined
        assert all(not r.failed for r in first[:-1])
        assert supervised.restarts == 1
        for _attempt in range(2):
            started = time.monotonic()
            parts = supervised.evaluate_stream(window, ids)
            shared = next(parts)
            # the others' decisions come first, not delayed by the quarantined strategy
            assert time.monotonic() - started < 0.5
            assert [r.strategy_id for r in shared] == others and all(not r.quarantined for r in shared)
            alone = [r for part in parts for r in part]
            assert [r.strategy_id for r in alone] == [stuck]
            assert alone[0].quarantined and alone[0].outcome is Outcome.TIMEOUT
        assert supervised._shared.restarts == 1  # the shared child was replaced once only
        disabled = supervised.evaluate(window, ids)[-1]
        assert disabled.outcome is Outcome.DISABLED and disabled.failed and disabled.quarantined
        assert "stopped the evaluation process 3 times" in (disabled.message or "")
        assert "time limit of 50 ms" in (disabled.message or "")


def test_a_hostile_pattern_does_not_slow_a_batch_of_200(window: CandleArrays) -> None:
    with SupervisedEvaluator() as supervised:
        ids = [
            supervised.add_strategy(f"if close() > close({k}) then return 'long' end") for k in range(1, 200)
        ]
        hostile = supervised.add_strategy('return ("("):rep(30000):find("%b()")')
        for _ in range(3):
            started = time.monotonic()
            results = supervised.evaluate(window, [*ids, hostile])
            assert time.monotonic() - started < 0.5
            assert results[-1].outcome is Outcome.ERROR
        assert supervised.restarts == 0
