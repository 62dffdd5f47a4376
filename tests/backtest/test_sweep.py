"""Parameter sweeps: planning, ranking, and every result equal to its single backtest."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tradewinds.backtest.portfolio import FillPrice
from tradewinds.backtest.runner import run_backtest
from tradewinds.backtest.sweep import (
    SweepAxis,
    SweepError,
    SweepResult,
    SweepSettings,
    combinations,
    parse_axis,
    ranked,
    run_sweep,
)
from tradewinds.backtest.sweep_report import ProgressBar, json_lines, render_table
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.timeframes import Timeframe
from tradewinds.strategy.limits import Limits

DATA = Path(__file__).parents[2] / "data"
CROSSOVER = """
local fast = ta.sma(param("fast", 10))
local slow = ta.ema(param("slow", 30))
if fast() > slow() * param("band", 1) then return "long" else return "short" end
"""


def settings(**overrides: object) -> SweepSettings:
    values: dict[str, object] = {
        "source": CROSSOVER,
        "params": {},
        "cash": 10_000.0,
        "fee": 0.001,
        "fill": FillPrice.CLOSE,
        "limits": Limits(),
        "name": "crossover.lua",
    }
    values.update(overrides)
    return SweepSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("fast=5:50:5", (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)),
        ("fast=5:52:5", (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)),
        ("band=0.1:0.3:0.1", (0.1, 0.2, 0.3)),
        ("band=1:2:0.25", (1, 1.25, 1.5, 1.75, 2)),
        ("fast=7:7:1", (7,)),
        ("fast=5,8,13", (5, 8, 13)),
        ("band=0.5,1", (0.5, 1)),
    ],
)
def test_an_axis_includes_both_ends_and_keeps_integers(text: str, values: tuple[float, ...]) -> None:
    axis = parse_axis(text)
    assert axis.values == values
    assert [type(v) for v in axis.values] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "expected NAME=START:STOP:STEP"),
        ("=1:2:1", "expected NAME=START:STOP:STEP"),
        ("fast=5:50:0", "STEP must be positive"),
        ("fast=50:5:5", "STOP must not be below START"),
        ("fast=a:b:c", "values must be numbers"),
        ("fast=1:2", "a range is START:STOP:STEP"),
        ("fast=1:1e9:1", "at most 1,000,000"),
        ("fast=5,5", "listed twice"),
        ("fast=1:inf:1", "finite"),
    ],
)
def test_bad_axes_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        parse_axis(text)


def test_combinations_are_the_product_with_the_first_axis_outermost() -> None:
    plan = combinations([SweepAxis("fast", (5, 10)), SweepAxis("slow", (20, 30, 40))])
    assert plan == [
        {"fast": 5, "slow": 20},
        {"fast": 5, "slow": 30},
        {"fast": 5, "slow": 40},
        {"fast": 10, "slow": 20},
        {"fast": 10, "slow": 30},
        {"fast": 10, "slow": 40},
    ]
    with pytest.raises(SweepError, match="swept once"):
        combinations([SweepAxis("fast", (5,)), SweepAxis("fast", (6,))])


def test_every_result_equals_the_single_backtest_with_its_parameters() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv")
    plan = combinations([parse_axis("fast=5:15:5"), parse_axis("slow=20:30:10")])
    fixed = {"band": 1.001}
    results, partial = run_sweep(candles, plan, settings(params=fixed), jobs=2)
    assert [r.params for r in results] == plan
    assert partial == ()
    for result in results:
        single = run_backtest(CROSSOVER, candles, params={**fixed, **result.params})
        assert result.error is None
        assert result.metrics == single.metrics
        assert {"fast", "slow", "band"} <= result.params_read


def test_a_rolled_up_sweep_equals_the_rolled_up_backtest() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")
    plan = combinations([parse_axis("fast=2,3"), parse_axis("slow=4,6")])
    results, partial = run_sweep(candles, plan, settings(), timeframe=Timeframe.H4, jobs=1)
    for result in results:
        single = run_backtest(CROSSOVER, candles, params=result.params, timeframe=Timeframe.H4)
        assert result.metrics == single.metrics
        assert partial == single.partial_ms


def test_a_failing_combination_is_reported_and_the_others_still_run() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")
    plan = combinations([parse_axis("fast=0,5"), parse_axis("slow=20")])
    results, _ = run_sweep(candles, plan, settings(), jobs=2)
    failed, good = results
    assert failed.metrics is None and failed.error is not None and "period" in failed.error
    assert good.metrics is not None and good.error is None
    assert ranked(results, "sharpe") == [good, failed]


def test_ranking_puts_the_best_first_and_lower_drawdown_is_better() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv")
    plan = combinations([parse_axis("fast=5:25:10"), parse_axis("slow=20:40:20")])
    results, _ = run_sweep(candles, plan, settings(), jobs=2)
    by_sharpe = ranked(results, "sharpe")
    sharpes = [r.metrics.sharpe for r in by_sharpe if r.metrics]
    assert sharpes == sorted(sharpes, reverse=True)
    drawdowns = [r.metrics.max_drawdown for r in ranked(results, "max_drawdown") if r.metrics]
    assert drawdowns == sorted(drawdowns)
    with pytest.raises(SweepError, match="choose one of"):
        ranked(results, "luck")
    table = render_table(by_sharpe, ["fast", "slow"], "sharpe", top=3)
    assert table.splitlines()[0] == "SWEEP: best 3 of 6 combinations by sharpe (*)"
    best = by_sharpe[0]
    assert f"{best.metrics.sharpe:.2f}" in table.splitlines()[4]  # type: ignore[union-attr]
    lines = json_lines(by_sharpe).splitlines()
    assert len(lines) == 6 and '"params": {"fast":' in lines[0]


def test_failed_results_rank_last_in_planned_order() -> None:
    failed = [SweepResult(i, {"x": i}, None, "boom", frozenset()) for i in (3, 1)]
    assert [r.index for r in ranked(failed, "sharpe")] == [1, 3]


def test_the_workers_leave_no_shared_memory_behind() -> None:
    # Pool workers exit without atexit: their history workers' buffers must still be removed.
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm here")
    before = set(shm.glob("tradewinds-history-*"))
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")
    run_sweep(candles, combinations([parse_axis("fast=2:9:1")]), settings(), jobs=2)
    mine = f"tradewinds-history-{os.getpid()}-"
    assert [
        p.name for p in set(shm.glob("tradewinds-history-*")) - before if not p.name.startswith(mine)
    ] == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_on_a_terminal_and_only_sums_up_elsewhere() -> None:
    terminal = _Terminal()
    bar = ProgressBar(1_000, terminal, width=10, interval_s=0.0)
    bar.advance(250)
    assert terminal.getvalue().startswith("\rsweep [##--------]   250/1,000  25%")
    bar.advance(750)
    bar.finish(failed=2)
    assert terminal.getvalue().endswith("\rswept 1,000 combinations in 0.0 s, 2 failed\n")
    piped = io.StringIO()
    quiet = ProgressBar(3, piped)
    quiet.advance(3)
    quiet.finish(failed=0)
    assert piped.getvalue().startswith("swept 3 combinations in ")
