"""`tradewinds db` and `tradewinds data import|export` from the command line, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tradewinds.cli import main
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import connect
from tradewinds.storage.schema import head_revision

DATA = Path(__file__).parents[2] / "data" / "coinbase_BTCUSD_1m_2018-04-04_06.csv"
SERIES = ["--exchange", "coinbase", "--symbol", "BTC/USD", "--timeframe", "1m"]
KEY = SeriesKey("coinbase", "BTC/USD", Timeframe.M1)


@pytest.fixture
def use_database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", database_url)
    return database_url


def stored_count(url: str) -> int:
    async def count() -> int:
        async with connect(url) as engine:
            return await CandleStore(engine).count(KEY)

    return asyncio.run(count())


def test_import_then_export_roundtrips_through_files(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "import", str(DATA), *SERIES]) == 0
    out = capsys.readouterr().out
    assert "stored 3887 candles for coinbase:BTC/USD:1m" in out and "3887 new or changed" in out
    assert "2018-04-04T00:00:00Z to 2018-04-06T23:59:00Z" in out

    exported = tmp_path / "export.csv"
    assert main(["data", "export", *SERIES, "--output", str(exported)]) == 0
    assert f"wrote 3887 candles for coinbase:BTC/USD:1m to {exported}" in capsys.readouterr().out
    original, roundtripped = read_candle_csv(DATA), read_candle_csv(exported)
    for column in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(roundtripped, column), getattr(original, column))

    assert main(["data", "import", str(exported), *SERIES]) == 0
    assert "stored 3887 candles for coinbase:BTC/USD:1m" in (out := capsys.readouterr().out)
    assert "; 0 new or changed" in out
    assert stored_count(use_database) == 3887


def test_export_to_stdout_honours_since_and_until(
    use_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "import", str(DATA), *SERIES]) == 0
    capsys.readouterr()
    # A date, and epoch ms for 2018-04-05T00:02:00Z: both ends inclusive.
    assert main(["data", "export", *SERIES, "--since", "2018-04-05", "--until", "1522886520000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "timestamp_ms,open,high,low,close,volume"
    assert [line.split(",")[0] for line in lines[1:]] == ["1522886400000", "1522886460000", "1522886520000"]
    assert lines[1] == "1522886400000,6791.68,6791.68,6778.01,6778.01,26.84379253"

    assert main(["data", "export", *SERIES, "--since", "2018-04-06T23:59:00Z"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_malformed_file_is_rejected_whole_naming_the_line(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = DATA.read_text().splitlines()[:10]
    lines[4] = "1522800180000,7395.88,oops,7395.87,7395.87,1.5"  # line 5 of the file
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["data", "import", str(bad), *SERIES]) == 1  # the file is wrong, not the command line
    err = capsys.readouterr().err
    assert f"{bad}:5:" in err and "'oops' is not a number" in err
    assert stored_count(use_database) == 0


def test_a_file_of_the_wrong_timeframe_is_refused(
    use_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "data",
                "import",
                str(DATA),
                "--exchange",
                "coinbase",
                "--symbol",
                "BTC/USD",
                "--timeframe",
                "1h",
            ]
        )
        == 1
    )
    assert "does not start a 1h candle; is --timeframe right?" in capsys.readouterr().err
    assert stored_count(use_database) == 0


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--symbol", "BTCUSD"], "--symbol 'BTCUSD': expected BASE/QUOTE"),
        (["--timeframe", "7m"], "--timeframe: unknown timeframe '7m'"),
        (["--exchange", " "], "--exchange is empty"),
    ],
)
def test_bad_series_options_are_named(
    use_database: str, options: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = dict(zip(SERIES[::2], SERIES[1::2], strict=True))
    args.update(zip(options[::2], options[1::2], strict=True))
    flat = [item for pair in args.items() for item in pair]
    assert main(["data", "import", str(DATA), *flat]) == 2
    assert complaint in capsys.readouterr().err


def test_export_errors(use_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "export", *SERIES]) == 1
    assert "no candles stored for coinbase:BTC/USD:1m at any time" in capsys.readouterr().err
    assert main(["data", "export", *SERIES, "--since", "last tuesday"]) == 2
    assert "--since: 'last tuesday' is not a time" in capsys.readouterr().err
    assert main(["data", "export", *SERIES, "--since", "2024-02-01", "--until", "2024-01-01"]) == 2
    assert "--since 2024-02-01 is after --until 2024-01-01" in capsys.readouterr().err


def test_db_upgrade_and_current_on_a_blank_database(
    blank_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path))
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", blank_database_url)
    head = head_revision()
    assert main(["db", "current"]) == 0
    assert "no Tradewinds tables yet" in capsys.readouterr().out
    assert main(["data", "import", str(DATA), *SERIES]) == 1
    assert "has no Tradewinds tables yet: run `tradewinds db upgrade`" in capsys.readouterr().err

    assert main(["db", "upgrade"]) == 0
    assert f"schema upgraded from (empty) to {head}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"schema already at the newest revision, {head}" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert f"schema revision {head} (newest)" in capsys.readouterr().out
    assert main(["data", "import", str(DATA), *SERIES]) == 0


def test_the_default_database_lives_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path))
    monkeypatch.delenv("TRADEWINDS_DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert str(tmp_path / "tradewinds.db") in capsys.readouterr().out
    assert (tmp_path / "tradewinds.db").is_file()
    assert (
        main(["data", "import", str(DATA), *SERIES, "--database", f"sqlite:///{tmp_path / 'other.db'}"]) == 1
    )
    assert "other.db has no Tradewinds tables yet" in capsys.readouterr().err


def test_unusable_database_urls_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path))
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", "mysql://trader:s3cret@db.local/tw")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "unsupported database URL scheme 'mysql'" in err and "s3cret" not in err
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", "postgresql://trader@127.0.0.1:1/tw")
    assert main(["db", "current"]) == 1
    assert "cannot reach database postgresql+asyncpg://trader@127.0.0.1:1/tw" in capsys.readouterr().err
