"""What users give `backtest` and `data`: Parquet files, timestamps in seconds, timeframes that
are not stored, names typed in any case, a data folder that is a file; and what --json says."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradewinds.backtest.portfolio import FillPrice
from tradewinds.cli import main
from tradewinds.commands.backtest import FILL_CHOICES
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import connect

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "sma_ema.lua"
HOURS = ROOT / "data" / "bitfinex_tBTCUSD_1h_2013-10.csv"
FIVES = ROOT / "data" / "bitfinex_tETHEUR_5m_2021-01-10.csv"


@pytest.fixture
def use_database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", database_url)
    return database_url


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["backtest", str(EXAMPLE), *argv, "--json"]) == 0, capsys.readouterr().err
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_json_says_what_was_run(capsys: pytest.CaptureFixture[str]) -> None:
    got = report(capsys, "--candles", str(HOURS), "--cash", "500", "--fee", "0.002")
    candles = read_candle_csv(HOURS)
    assert got["strategy"] == str(EXAMPLE)
    assert got["first_candle"] == "2013-10-01T00:00:00Z" and candles.time[0] == 1_380_585_600_000
    assert got["last_candle"] == "2013-10-31T21:00:00Z"  # the file's last line
    assert got["candles"] == len(candles) == 733
    assert (got["timeframe"], got["cash"], got["fee"], got["fill"]) == ("1h", 500.0, 0.002, "close")
    rolled = report(capsys, "--candles", str(HOURS), "--timeframe", "4h")
    assert rolled["timeframe"] == "4h" and str(rolled["last_candle"]).endswith(
        ("00:00Z", "04:00Z", "08:00Z", "12:00Z", "16:00Z", "20:00Z")
    )


def test_a_parquet_file_backtests_as_its_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tradewinds.domain.candle_parquet import write_candle_parquet

    parquet = tmp_path / "hours.parquet"
    write_candle_parquet(read_candle_csv(HOURS), parquet)
    assert report(capsys, "--candles", str(parquet)) == report(capsys, "--candles", str(HOURS))


def seconds_file(tmp_path: Path) -> Path:
    lines = HOURS.read_text().splitlines()
    rows = [line.split(",", 1) for line in lines[1:]]
    path = tmp_path / "seconds.csv"
    path.write_text("\n".join([lines[0], *(f"{int(t) // 1000},{rest}" for t, rest in rows)]) + "\n")
    return path


def test_timestamps_in_seconds_are_named_by_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", str(EXAMPLE), "--candles", str(seconds_file(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "timestamps look like seconds since 1970, not milliseconds" in err
    assert "2013-10-01T00:00:00Z in seconds" in err


def test_timestamps_in_seconds_are_named_by_data_import(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = ["--exchange", "bitfinex", "--symbol", "BTC/USD", "--timeframe", "1h"]
    assert main(["data", "import", str(seconds_file(tmp_path)), *series]) == 1
    err = capsys.readouterr().err
    assert "look like seconds" in err and "--timeframe" not in err


def test_a_timeframe_not_stored_rolls_up_the_finest_stored_divisor(
    use_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "data",
                "import",
                str(FIVES),
                "--exchange",
                "bitfinex",
                "--symbol",
                "ETH/EUR",
                "--timeframe",
                "5m",
            ]
        )
        == 0
    )
    capsys.readouterr()
    stored = report(capsys, "--exchange", "bitfinex", "--symbol", "ETH/EUR", "--timeframe", "15m")
    from_file = report(capsys, "--candles", str(FIVES), "--timeframe", "15m")
    assert stored.pop("strategy") == from_file.pop("strategy")
    assert stored == from_file and stored["timeframe"] == "15m"
    assert (
        main(["backtest", str(EXAMPLE), "--exchange", "bitfinex", "--symbol", "ETH/EUR", "--timeframe", "1m"])
        == 1
    )
    assert "no 1m candles stored for bitfinex ETH/EUR" in capsys.readouterr().err


def test_names_are_spelled_as_the_exchange_does(
    use_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = ["--exchange", "Test", "--symbol", "bad/usd", "--timeframe", "1h"]
    assert main(["data", "import", str(HOURS), *typed]) == 0
    assert "for test:BAD/USD:1h" in capsys.readouterr().out
    assert (
        main(["data", "import", str(HOURS), "--exchange", "TEST", "--symbol", "Bad/Usd", "--timeframe", "1h"])
        == 0
    )
    assert "0 new or changed" in capsys.readouterr().out  # the same series, not a second one
    shouted = report(capsys, "--exchange", "TEST", "--symbol", "BAD/usd", "--timeframe", "1h")
    assert shouted["candles"] == 733

    async def series() -> list[str]:
        async with connect(use_database) as engine:
            return [str(key) for key in await CandleStore(engine).series()]

    assert asyncio.run(series()) == ["test:BAD/USD:1h"]


def test_export_and_import_parquet(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = ["--exchange", "bitfinex", "--symbol", "BTC/USD", "--timeframe", "1h"]
    assert main(["data", "import", str(HOURS), *series]) == 0
    out = tmp_path / "hours.parquet"
    assert main(["data", "export", *series, "--output", str(out)]) == 0  # format from the name
    assert f"wrote 733 candles for bitfinex:BTC/USD:1h to {out}" in capsys.readouterr().out
    other = ["--exchange", "copy", "--symbol", "BTC/USD", "--timeframe", "1h"]
    assert main(["data", "import", str(out), *other]) == 0
    assert "stored 733 candles for copy:BTC/USD:1h" in capsys.readouterr().out
    as_csv = tmp_path / "copy.csv"
    assert main(["data", "export", *other, "--format", "csv", "-o", str(as_csv)]) == 0
    original, copied = read_candle_csv(HOURS), read_candle_csv(as_csv)
    assert copied.to_candles() == original.to_candles()
    named = tmp_path / "named.dat"
    assert main(["data", "export", *series, "--format", "parquet", "-o", str(named)]) == 0
    assert main(["data", "export", *series, "--format", "parquet"]) == 2
    assert "--format parquet needs --output" in capsys.readouterr().err


def test_fill_choices_are_the_portfolios() -> None:
    assert tuple(f.value for f in FillPrice) == FILL_CHOICES


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    env = {**os.environ, "TRADEWINDS_HOME": str(home)}
    env.pop("TRADEWINDS_DATABASE_URL", None)
    series = ["--exchange", "x", "--symbol", "A/B", "--timeframe", "1m"]
    for argv in (["backtest", str(EXAMPLE), *series], ["data", "export", *series]):
        done = subprocess.run(
            [sys.executable, "-m", "tradewinds.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert (
            done.stderr
            == f"error: TRADEWINDS_HOME={home} is a file, not a folder; point TRADEWINDS_HOME at a folder\n"
        )


def test_a_database_that_cannot_be_reached_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/tradewinds"
    argv = ["--exchange", "x", "--symbol", "A/B", "--timeframe", "1m", "--database", unreachable]
    assert main(["backtest", str(EXAMPLE), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach database {unreachable}") and err.count("\n") == 1
