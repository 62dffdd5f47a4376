"""The sandbox: what a strategy cannot reach, and the limits that stop hostile strategies."""

from __future__ import annotations

import time

import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy import (
    Limits,
    LiveEvaluator,
    Outcome,
    StrategyError,
    StrategyLimitExceeded,
    SupervisedEvaluator,
    run_over_history,
)

FORBIDDEN_GLOBALS = [
    "io",
    "os",
    "require",
    "package",
    "load",
    "loadstring",
    "dofile",
    "loadfile",
    "debug",
    "collectgarbage",
    "getfenv",
    "setfenv",
    "python",
    "jit",
    "ffi",
    "coroutine",
    "newproxy",
    "_G",
    "module",
    "gcinfo",
    "xpcall",
]


@pytest.fixture(scope="module")
def evaluator() -> LiveEvaluator:
    return LiveEvaluator()


def evaluate_one(evaluator: LiveEvaluator, window: CandleArrays, source: str) -> object:
    sid = evaluator.add_strategy(source)
    try:
        return evaluator.evaluate(window, [sid])[0]
    finally:
        evaluator.remove_strategy(sid)


@pytest.mark.parametrize("name", FORBIDDEN_GLOBALS)
def test_dangerous_globals_are_absent(evaluator: LiveEvaluator, window: CandleArrays, name: str) -> None:
    result = evaluate_one(evaluator, window, f'if {name} == nil then return "long" end return "short"')
    assert result.outcome is Outcome.DECIDED and result.target.value == "long"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "expression",
    [
        "string.dump",
        "math.random",
        "getmetatable('')",
        "getmetatable(string)",
        "getmetatable(math)",
    ],
)
def test_escape_hatches_are_closed(evaluator: LiveEvaluator, window: CandleArrays, expression: str) -> None:
    result = evaluate_one(evaluator, window, f'if not {expression} then return "long" end return "short"')
    assert result.target is not None and result.target.value == "long"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("math.floor = nil return nil", "math is read-only"),
        ("string.upper = nil return nil", "string is read-only"),
        ("ta.sma = nil return nil", "ta is read-only"),
        ("rawset(math, 'x', 1) return nil", "cannot rawset a protected table"),
        ("setmetatable(string, {}) return nil", "protected metatable"),
        ("return ('x').dump", None),
    ],
)
def test_shared_tables_cannot_be_changed(
    evaluator: LiveEvaluator, window: CandleArrays, source: str, fragment: str | None
) -> None:
    result = evaluate_one(evaluator, window, source)
    if fragment is None:
        assert result.outcome is Outcome.KEPT  # type: ignore[attr-defined]
    else:
        assert result.outcome is Outcome.ERROR, result  # type: ignore[attr-defined]
        assert fragment in result.message  # type: ignore[attr-defined]
    # and the library still works for the next strategy
    after = evaluate_one(
        evaluator, window, 'if math.floor(2.5) == 2 and ("a"):upper() == "A" then return "long" end'
    )
    assert after.target is not None  # type: ignore[attr-defined]


def test_bytecode_is_refused(evaluator: LiveEvaluator) -> None:
    with pytest.raises(StrategyError, match="syntax error"):
        evaluator.add_strategy("\x1bLJ\x02\x00")


def test_globals_do_not_survive_between_evaluations(evaluator: LiveEvaluator, window: CandleArrays) -> None:
    sid = evaluator.add_strategy('if counter == nil then counter = 1 return "long" end return "short"')
    first = evaluator.evaluate(window, [sid])[0]
    second = evaluator.evaluate(window, [sid])[0]
    assert first.target == second.target and first.target is not None
    assert first.target.value == "long"


HOSTILE = {
    "infinite loop": ("while true do end", Outcome.TIMEOUT, "time limit of 50 ms"),
    "memory": ("local t={} for i=1,1e9 do t[i]=i end", Outcome.MEMORY, "memory limit of 32 MiB"),
    "huge string": ('return string.rep("x", 1e10)', Outcome.ERROR, "memory limit"),
    "recursion": (
        "local function f() return 1 + f() end return f()",
        Outcome.ERROR,
        "stack overflow",
    ),
    "pattern": (
        "return ('a'):rep(800):find(('.-'):rep(3)..'b')",
        Outcome.ERROR,
        "time limit",
    ),
    "pcall swallow": (
        "while true do pcall(function() while true do end end) end",
        Outcome.TIMEOUT,
        "time limit",
    ),
    "error object": (
        "error(setmetatable({}, {__tostring = function() while true do end end}))",
        Outcome.ERROR,
        "table value",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_strategy_ends_with_named_limit_in_time(
    evaluator: LiveEvaluator, window: CandleArrays, case: str
) -> None:
    source, outcome, fragment = HOSTILE[case]
    limit_ms = 50.0
    if outcome is Outcome.MEMORY:
        # Filling 32 MiB takes 20-50 ms on a loaded machine: a time limit that cannot end it first,
        # so the test checks the memory limit and not the race between the two.
        limit_ms = 500.0
        evaluator = LiveEvaluator(Limits(time_ms=limit_ms))
    started = time.monotonic()
    result = evaluate_one(evaluator, window, source)
    elapsed_ms = (time.monotonic() - started) * 1000
    assert result.outcome is outcome, result  # type: ignore[attr-defined]
    assert fragment in result.message  # type: ignore[attr-defined]
    assert elapsed_ms < 2 * limit_ms + 50, f"took {elapsed_ms:.0f} ms"  # twice the limit, plus set-up


@pytest.mark.parametrize("case", ["infinite loop", "memory", "huge string", "recursion", "pattern"])
def test_hostile_strategy_in_history_run(candles: CandleArrays, case: str) -> None:
    source, _, fragment = HOSTILE[case]
    started = time.monotonic()
    with pytest.raises(StrategyError) as info:
        run_over_history(source, candles)
    assert time.monotonic() - started < 2.0
    assert fragment.split(" of ")[0] in str(info.value)
    assert "candle 0" in str(info.value)


def test_history_timeout_is_a_limit_error(candles: CandleArrays) -> None:
    with pytest.raises(StrategyLimitExceeded) as info:
        run_over_history("if time() > 0 then while true do end end", candles, limits=Limits(time_ms=30))
    assert info.value.limit == "time"
    assert "time limit of 30 ms" in str(info.value)


def test_hundreds_of_hostile_then_a_thousand_normal(window: CandleArrays) -> None:
    """The process stays healthy: limits leave no damage behind."""
    evaluator = LiveEvaluator(Limits(time_ms=20))
    hostile = [source for source, _, _ in HOSTILE.values()] * 30
    ids = [evaluator.add_strategy(source) for source in hostile]
    results = evaluator.evaluate(window, ids)
    assert all(r.outcome is not Outcome.DECIDED for r in results)
    normal = [
        evaluator.add_strategy(f"if close() > close({k % 5 + 1}) then return 'long' else return 'short' end")
        for k in range(1000)
    ]
    decided = evaluator.evaluate(window, normal)
    close = window.close
    for k, evaluation in enumerate(decided):
        expected = "long" if close[-1] > close[-1 - (k % 5 + 1)] else "short"
        assert evaluation.target is not None and evaluation.target.value == expected


def test_supervisor_replaces_a_process_stuck_in_c(window: CandleArrays) -> None:
    # A budget far too generous lets a pattern through that runs for about a second in C.
    with SupervisedEvaluator(Limits(pattern_budget=1e12)) as supervised:
        ok = supervised.add_strategy('return "long"')
        # Within that pattern budget, so it runs, for about a second, in C where no hook fires.
        stuck = supervised.add_strategy("return ('a'):rep(999):find('.-.-b')")
        after = supervised.add_strategy('return "short"')
        started = time.monotonic()
        results = supervised.evaluate(window, [ok, stuck, after])
        assert [r.outcome for r in results] == [Outcome.DECIDED, Outcome.TIMEOUT, Outcome.DECIDED]
        assert "time limit of 50 ms" in (results[1].message or "")
        assert supervised.restarts == 1
        assert time.monotonic() - started < 10
        # the replacement process knows every strategy
        again = supervised.evaluate(window, [ok, after])
        assert [r.target.value for r in again if r.target] == ["long", "short"]
