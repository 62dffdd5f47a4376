"""`tradewinds backtest` and `tradewinds check` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradewinds.cli import main
from tradewinds.domain.candle_csv import read_candle_csv

ROOT = Path(__file__).parents[2]
DATA = ROOT / "data" / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv"
EXAMPLE = ROOT / "examples" / "sma_ema.lua"


def reference_backtest(closes: list[float], cash: float, fee: float) -> tuple[int, float]:
    """The example rule in plain Python: SMA(10) > EMA(10) -> short, else long; fill at close."""
    sma_window: list[float] = []
    ema: float | None = None
    seed: list[float] = []
    k = 2 / 11
    held, units, trades = "short", 0.0, 0
    for price in closes:
        sma_window = [*sma_window[-9:], price]
        if ema is None:
            seed.append(price)
            if len(seed) == 10:
                ema = sum(seed) / 10
        else:
            ema = ema + k * (price - ema)
        if ema is None or len(sma_window) < 10:
            continue
        target = "short" if sum(sma_window) / 10 > ema else "long"
        if target != held:
            if target == "long":
                units, cash = cash * (1 - fee) / price, 0.0
            else:
                cash, units = units * price * (1 - fee), 0.0
            held, trades = target, trades + 1
    return trades, cash + units * closes[-1]


def test_json_report_matches_an_independent_loop(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(EXAMPLE), "--candles", str(DATA), "--json", "--fee", "0.002"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == [
        "strategy",
        "first_candle",
        "last_candle",
        "candles",
        "timeframe",
        "cash",
        "fee",
        "fill",
        "partial_candles_left_out",
        "final_equity",
        "total_return",
        "buy_hold_return",
        "trades",
        "win_rate",
        "max_drawdown",
        "sharpe",
        "exposure",
        "warmup_candles",
        "logs",
        "logs_dropped",
    ]
    closes = read_candle_csv(DATA).close.tolist()
    trades, equity = reference_backtest(closes, 10_000.0, 0.002)
    assert report["trades"] == trades
    assert report["final_equity"] == pytest.approx(equity, rel=1e-9)
    assert report["warmup_candles"] == 9


def test_text_report_and_trades_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades = tmp_path / "trades.csv"
    assert main(["backtest", str(EXAMPLE), "--candles", str(DATA), "--trades", str(trades)]) == 0
    out = capsys.readouterr().out
    assert "Final equity" in out and "Buy and hold" in out
    lines = trades.read_text().splitlines()
    assert lines[0] == "time,side,price,units,fee,cash_after,units_after"
    assert lines[1].split(",")[1] == "buy"


def test_iso_timestamps_and_rollup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "iso.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    for minute in range(120):
        price = 100 + minute % 7
        rows.append(
            f"2024-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z,{price},{price + 1},{price - 1},{price},1"
        )
    csv.write_text("\n".join(rows) + "\n")
    strategy = tmp_path / "s.lua"
    strategy.write_text("if close() > 100 then return 'long' end return 'short'")
    assert main(["backtest", str(strategy), "--candles", str(csv), "--timeframe", "15m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warmup_candles"] == 0


def test_bad_csv_row_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("timestamp_ms,open,high,low,close,volume\n1,1,2,0.5,1.5,3\n2,1,2,0.5,oops,3\n")
    assert main(["backtest", str(EXAMPLE), "--candles", str(csv)]) != 0
    err = capsys.readouterr().err
    assert "bad.csv:3: close 'oops' is not a number" in err
    assert "Traceback" not in err


def test_broken_strategy_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strategy = tmp_path / "broken.lua"
    strategy.write_text("local a = close()\nreturn a.b\n")
    assert main(["backtest", str(strategy), "--candles", str(DATA)]) != 0
    err = capsys.readouterr().err
    assert "line 2: attempt to index local 'a' (a number value)" in err
    assert "at candle 0, 2017-07-01T11:00:00Z" in err


def test_missing_files_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1: what the command was given is wrong; 2: the command line is (see `tradewinds --help`)
    assert main(["backtest", str(tmp_path / "none.lua"), "--candles", str(DATA)]) == 1
    assert "no such strategy file" in capsys.readouterr().err
    assert main(["backtest", str(EXAMPLE), "--candles", str(tmp_path / "none.csv")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["backtest", str(EXAMPLE), "--candles", str(DATA), "--timeframe", "7x"]) == 2
    assert "unknown timeframe" in capsys.readouterr().err
    assert main(["backtest", str(EXAMPLE), "--candles", str(DATA), "--timeframe", "5m"]) == 1
    assert "cannot make 5m candles" in capsys.readouterr().err


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    bad = tmp_path / "bad.lua"
    bad.write_text("if close() > then return 'long' end")
    assert main(["check", str(bad)]) == 1
    assert "syntax error: line 1" in capsys.readouterr().err
    runtime = tmp_path / "runtime.lua"
    runtime.write_text("return 'sideways'")
    assert main(["check", str(runtime)]) == 1
    assert 'returned "sideways"' in capsys.readouterr().err


def test_limits_are_configurable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strategy = tmp_path / "slow.lua"
    strategy.write_text("local x = 0 for i = 1, 1e9 do x = x + i % 7 end return 'long'")
    assert main(["check", str(strategy), "--time-limit", "20"]) == 1
    assert "time limit of 20 ms exceeded" in capsys.readouterr().err
    assert main(["check", str(strategy), "--time-limit", "0"]) == 2
    assert "time limit must be positive" in capsys.readouterr().err


def test_backtest_from_stored_candles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = f"sqlite:///{tmp_path / 'tw.db'}"
    minutes = ROOT / "data" / "coinbase_BTCUSD_1m_2018-04-04_06.csv"
    assert main(["db", "upgrade", "--database", database]) == 0
    common = ["--exchange", "coinbase", "--symbol", "BTC/USD", "--database", database]
    assert main(["data", "import", str(minutes), *common, "--timeframe", "1m"]) == 0
    capsys.readouterr()
    # 15m is not stored: it is rolled up from the stored 1m series, as from the CSV file
    assert main(["backtest", str(EXAMPLE), *common, "--timeframe", "15m", "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert main(["backtest", str(EXAMPLE), "--candles", str(minutes), "--timeframe", "15m", "--json"]) == 0
    assert stored == json.loads(capsys.readouterr().out)
    ranged = [*common, "--timeframe", "1m", "--since", "2018-04-05", "--until", "2018-04-05T06:00:00Z"]
    assert main(["backtest", str(EXAMPLE), *ranged, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warmup_candles"] == 9
    assert (
        main(
            [
                "backtest",
                str(EXAMPLE),
                *common[:2],
                "--symbol",
                "ETH/USD",
                "--database",
                database,
                "--timeframe",
                "1h",
            ]
        )
        == 1
    )
    assert "no 1h candles stored for coinbase ETH/USD" in capsys.readouterr().err
