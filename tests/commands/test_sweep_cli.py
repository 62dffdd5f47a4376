"""`tradewinds backtest --sweep`, parameter names, log lines and partial candles, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tradewinds.backtest.sweep import RANKINGS
from tradewinds.cli import main
from tradewinds.commands._sweep import RANK_CHOICES

ROOT = Path(__file__).parents[2]
HOURLY = ROOT / "data" / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv"
MONTH = ROOT / "data" / "bitfinex_tBTCUSD_1h_2013-10.csv"
CROSSOVER = """
local fast = ta.sma(param("fast", 10))
local slow = ta.ema(param("slow", 30))
if fast() > slow() then return "long" else return "short" end
"""


@pytest.fixture
def crossover(tmp_path: Path) -> Path:
    path = tmp_path / "crossover.lua"
    path.write_text(CROSSOVER)
    return path


def tradewinds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradewinds.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_each_swept_combination_equals_its_single_backtest(crossover: Path) -> None:
    swept = tradewinds(
        "backtest", str(crossover), "--candles", str(HOURLY),
        "--sweep", "fast=5:15:5", "--sweep", "slow=20:40:20", "--jobs", "2", "--json",
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    rows = [json.loads(line) for line in swept.stdout.splitlines()]
    assert sorted((r["params"]["fast"], r["params"]["slow"]) for r in rows) == [
        (5, 20), (5, 40), (10, 20), (10, 40), (15, 20), (15, 40),
    ]  # fmt: skip
    sharpes = [r["sharpe"] for r in rows]
    assert sharpes == sorted(sharpes, reverse=True)  # ranked by sharpe, the default
    assert "swept 6 combinations" in swept.stderr
    for row in rows[:3]:
        params = row.pop("params")
        single = tradewinds(
            "backtest", str(crossover), "--candles", str(HOURLY), "--json",
            "--param", f"fast={params['fast']}", "--param", f"slow={params['slow']}",
        )  # fmt: skip
        report = json.loads(single.stdout)
        assert {key: report[key] for key in row} == row


def test_the_table_shows_the_best_combinations(crossover: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "backtest",
        str(crossover),
        "--candles",
        str(HOURLY),
        "--sweep",
        "fast=5,10",
        "--sweep",
        "slow=20:60:20",
    ]
    assert main([*args, "--rank", "max_drawdown", "--top", "2", "--jobs", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "SWEEP: best 2 of 6 combinations by max_drawdown (*)"
    assert "drawdown *" in out[2]
    assert len(out) == 7  # title, rule, header, rule, two rows, rule


def test_rank_choices_are_the_sweeps_rankings() -> None:
    assert set(RANK_CHOICES) == set(RANKINGS)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--param", "fsat=8"],
            "--param fsat: the strategy never reads a parameter named fsat; it reads fast, slow",
        ),
        (["--sweep", "fsat=1:3:1"], "the strategy never reads a parameter named fsat; it reads fast, slow"),
        (["--sweep", "fast=5:1:1"], "--sweep fast=5:1:1: STOP must not be below START"),
        (["--sweep", "fast=1,2", "--param", "fast=3"], "--sweep fast: also given with --param"),
        (["--sweep", "fast=1,2", "--trades", "t.csv"], "not with --sweep"),
    ],
)
def test_command_line_mistakes_are_named(
    crossover: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", str(crossover), "--candles", str(HOURLY), *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_parameter_read_only_in_a_branch_or_by_a_computed_name_is_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = tmp_path / "branchy.lua"
    strategy.write_text(
        'local name = "thr" .. "eshold"\n'
        "if close() > param(name, 1e9) then\n"
        '  if param("never", 1) > 2 then return "short" end\n'
        '  return "long"\n'
        "end\n"
        '-- param("commented", 1) is not a read\n'
    )
    base = ["backtest", str(strategy), "--candles", str(MONTH), "--json"]
    assert main([*base, "--param", "threshold=150", "--param", "never=0"]) == 0
    capsys.readouterr()
    assert main([*base, "--param", "commented=1"]) == 2
    assert "it reads never, threshold" in capsys.readouterr().err


def test_two_hundred_log_lines_with_iso_times_and_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = tmp_path / "chatty.lua"
    strategy.write_text('log("close", close())\nreturn "long"\n')
    assert main(["backtest", str(strategy), "--candles", str(MONTH)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("log ")]
    assert len(lines) == 200
    assert lines[0].startswith("log 2013-10-01T00:00:00Z: close ")
    assert main(["backtest", str(strategy), "--candles", str(MONTH), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["logs"]) == 200 and report["logs_dropped"] is True
    assert report["logs"][1]["time"] == "2013-10-01T01:00:00Z"
    assert main(["backtest", str(strategy), "--candles", str(MONTH)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "(more log lines were dropped: a backtest keeps the first 200)"
    )


def test_a_few_log_lines_have_no_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strategy = tmp_path / "quiet.lua"
    strategy.write_text('if close() > 1000 then log("above", close()) end\nreturn "long"\n')
    assert main(["backtest", str(strategy), "--candles", str(MONTH), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["logs_dropped"] is False
    assert len(report["logs"]) < 200


def test_the_report_says_which_partial_candles_were_left_out(
    crossover: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backtest", str(crossover), "--candles", str(MONTH), "--timeframe", "1d", "--param", "fast=3"]
    assert main([*args, "--param", "slow=5"]) == 0
    out = capsys.readouterr().out
    assert "Left out         partial 1d candle at 2013-10-31T00:00:00Z (period not in the data)" in out
    assert "30 (1d)" in out
    assert main([*args, "--param", "slow=5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["partial_candles_left_out"] == ["2013-10-31T00:00:00Z"]
    assert report["candles"] == 30


def test_stored_candles_until_inside_a_bucket_and_swept(
    tmp_path: Path, crossover: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'tw.db'}"
    minutes = ROOT / "data" / "coinbase_BTCUSD_1m_2018-04-04_06.csv"
    common = ["--exchange", "coinbase", "--symbol", "BTC/USD", "--database", database]
    assert main(["db", "upgrade", "--database", database]) == 0
    assert main(["data", "import", str(minutes), *common, "--timeframe", "1m"]) == 0
    capsys.readouterr()
    # --until 05:30 ends inside the 05:00 hour, which the live core would not have closed.
    ranged = [
        *common,
        "--timeframe",
        "1h",
        "--since",
        "2018-04-05T00:20:00Z",
        "--until",
        "2018-04-05T05:30:00Z",
    ]
    assert (
        main(["backtest", str(crossover), *ranged, "--param", "fast=2", "--param", "slow=3", "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["partial_candles_left_out"] == ["2018-04-05T00:00:00Z", "2018-04-05T05:00:00Z"]
    assert (report["first_candle"], report["last_candle"]) == ("2018-04-05T01:00:00Z", "2018-04-05T04:00:00Z")
    # A sweep over stored candles is the sweep over the same candles from the file.
    sweep = ["--sweep", "fast=2:4:1", "--sweep", "slow=5,8", "--jobs", "2", "--json", "--timeframe", "15m"]
    assert main(["backtest", str(crossover), *common, *sweep]) == 0
    stored = capsys.readouterr().out
    assert main(["backtest", str(crossover), "--candles", str(minutes), *sweep]) == 0
    assert stored == capsys.readouterr().out
