"""`tradewinds data download` end to end: the CLI against the fake Bitfinex, into a SQLite file.

The CLI runs its own event loop (`asyncio.run`), so the fake serves from a thread of its own.
"""

from __future__ import annotations

import asyncio
import io
import math
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from aiohttp import web

import tradewinds.exchange.bitfinex.adapter as bitfinex_adapter
from tests.exchange.conftest import TEST_LIMITS, loopback_only  # noqa: F401 - an autouse fixture
from tests.exchange.fake_bitfinex import FakeBitfinex, SeenRequest, wire_row
from tradewinds.cli import main
from tradewinds.commands import download
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.times import format_time_ms, parse_time_arg
from tradewinds.exchange import ratelimit, registry
from tradewinds.exchange.adapter import ExchangeAdapter, ExchangeError
from tradewinds.exchange.bitfinex import BitfinexAdapter
from tradewinds.exchange.ccxt_adapter import CcxtAdapter
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.exchange.sim import SimulatedExchange
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import connect

REAL_HOURS = Path(__file__).parents[2] / "data" / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv"
T = parse_time_arg("2024-01-01")
M = MINUTE_MS
KEY = SeriesKey("bitfinex", "BTC/USD", Timeframe.M1)
SERIES = ["--exchange", "bitfinex", "--symbol", "BTC/USD", "--timeframe", "1m"]
MINUTE_HIST = "/v2/candles/trade:1m:tBTCUSD/hist"


class ServedBitfinex(FakeBitfinex):
    """The fake Bitfinex, able to go into maintenance after serving `fail_after` candle pages."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_after: int | None = None
        self.pages_served = 0

    async def _candles_handler(self, request: web.Request) -> web.Response:
        response = await super()._candles_handler(request)
        self.pages_served += 1
        if self.fail_after is not None and self.pages_served >= self.fail_after:
            self.rest_maintenance = True
        return response


@pytest.fixture
def fake() -> Iterator[ServedBitfinex]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-bitfinex", daemon=True)
    thread.start()
    server = ServedBitfinex()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "tradewinds.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", url)
    return url


@pytest.fixture
def run(fake: ServedBitfinex, database: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """`tradewinds data download <args>` pointed at the fake, with budgets that never make it wait."""
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    # A fresh process-wide limiter: a bucket's budget is fixed by whoever creates it first.
    monkeypatch.setattr(ratelimit, "_shared", ratelimit.RateLimiter())
    monkeypatch.setattr(bitfinex_adapter, "BITFINEX_LIMITS", TEST_LIMITS)
    monkeypatch.setattr(ccxt_async.Exchange, "timeout_on_exit", 0)  # no TLS to wait for on loopback

    def run_download(*args: str) -> int:
        return main(["data", "download", *args])

    return run_download


def minutes(first: int, count: int, skip: Sequence[int] = ()) -> list[Candle]:
    """1-minute candles from minute `first` after T, with O, H, L, C all different."""
    return [
        Candle(T + i * M, 100.0 + i, 110.0 + i, 90.0 + i, 105.0 + i, 1.0 + i)
        for i in range(first, first + count)
        if i not in skip
    ]


def serve(fake: FakeBitfinex, candles: Sequence[Candle], timeframe: str = "1m") -> None:
    rows = [wire_row(c.time, c.open, c.high, c.low, c.close, c.volume) for c in candles]
    fake.load_rows("tBTCUSD", timeframe, rows)


def stored(url: str, key: SeriesKey = KEY) -> list[Candle]:
    async def read() -> list[Candle]:
        async with connect(url) as engine:
            return await CandleStore(engine).range(key)

    return asyncio.run(read())


def page_starts(requests: list[SeenRequest]) -> list[int]:
    return [int(r.query["start"]) for r in requests]


def until(minute: int) -> list[str]:
    return ["--since", "2024-01-01", "--until", str(T + minute * M)]


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ----------------------------------------------------------------------------- end to end


def test_real_candles_arrive_across_pages_in_ohlc_order_and_a_rerun_fetches_nothing(
    run: Callable[..., int], fake: ServedBitfinex, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arrays = read_candle_csv(REAL_HOURS)
    columns = (arrays.time, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
    real = [Candle(int(t), *values) for t, *values in zip(*(c[:1000].tolist() for c in columns), strict=True)]
    serve(fake, real, "1h")
    first, last = real[0].time, real[-1].time
    args = ["--exchange", "bitfinex", "--symbol", "BTC/USD", "--timeframe", "1h", "--page-size", "300"]
    args += ["--since", str(first), "--until", format_time_ms(last)]

    assert run(*args) == 0
    key = SeriesKey("bitfinex", "BTC/USD", Timeframe.H1)
    assert stored(database, key) == real  # Bitfinex sends O, C, H, L: each must land in its column
    hours = (last - first) // Timeframe.H1.ms + 1
    pages = fake.requests_to("/v2/candles/trade:1h:tBTCUSD/hist")
    assert len(pages) == math.ceil(hours / 300) > 2
    assert page_starts(pages) == [first + k * 300 * Timeframe.H1.ms for k in range(len(pages))]
    assert {r.query["limit"] for r in pages} == {"300"}
    out = capsys.readouterr().out
    assert f"downloaded {len(real)} candles for bitfinex:BTC/USD:1h" in out
    assert f"in {len(pages)} requests; {len(real)} new or changed" in out

    fake.requests.clear()
    assert run(*args) == 0
    assert fake.requests_to("/v2/candles/") == []
    assert f"candles are stored up to {format_time_ms(last)}" in capsys.readouterr().out
    assert stored(database, key) == real


def test_empty_pages_of_a_quiet_stretch_are_skipped_not_taken_for_the_end(
    run: Callable[..., int], fake: ServedBitfinex, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    candles = minutes(0, 150) + minutes(450, 100)  # no trades for 300 minutes: three empty pages
    serve(fake, candles)
    assert run(*SERIES, *until(549), "--page-size", "100") == 0
    assert stored(database) == candles
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T + k * 100 * M for k in range(6)]
    assert "downloaded 250 candles" in capsys.readouterr().out


def test_a_download_that_fails_midway_resumes_without_duplicates_or_holes(
    run: Callable[..., int], fake: ServedBitfinex, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    candles = minutes(0, 500, skip=(37, 250))
    serve(fake, candles)
    fake.fail_after = 2  # two pages, then maintenance
    assert run(*SERIES, *until(499), "--page-size", "100") == 1
    message = one_error_line(capsys.readouterr().err)
    assert "Bitfinex is in maintenance" in message
    assert "stored 199 candles for bitfinex:BTC/USD:1m up to 2024-01-01T03:19:00Z" in message
    assert message.endswith("run the same command again to resume")
    assert stored(database) == [c for c in candles if c.time < T + 200 * M]

    fake.rest_maintenance, fake.fail_after = False, None
    fake.requests.clear()
    assert run(*SERIES, *until(499), "--page-size", "100") == 0
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T + 200 * M, T + 300 * M, T + 400 * M]
    assert "resuming after 2024-01-01T03:19:00Z" in capsys.readouterr().err
    assert stored(database) == candles


def test_a_later_until_continues_where_the_earlier_one_stopped(
    run: Callable[..., int], fake: ServedBitfinex, database: str
) -> None:
    candles = minutes(0, 300)
    serve(fake, candles)
    assert run(*SERIES, *until(99)) == 0
    assert stored(database) == candles[:100]
    fake.requests.clear()
    assert run(*SERIES, *until(299)) == 0
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T + 100 * M]
    assert stored(database) == candles


def test_candles_stored_after_the_range_do_not_make_it_look_done(
    run: Callable[..., int], fake: ServedBitfinex, database: str
) -> None:
    candles = minutes(0, 300)
    serve(fake, candles)
    assert run(*SERIES, "--since", str(T + 200 * M), "--until", str(T + 299 * M)) == 0
    fake.requests.clear()
    assert run(*SERIES, *until(199)) == 0
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T]
    assert stored(database) == candles


def test_without_since_it_continues_the_stored_series(
    run: Callable[..., int], fake: ServedBitfinex, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*SERIES) == 2
    assert "give --since for its first download" in one_error_line(capsys.readouterr().err)
    candles = minutes(0, 200)
    serve(fake, candles)
    assert run(*SERIES, *until(49)) == 0
    fake.requests.clear()
    assert run(*SERIES, "--until", str(T + 199 * M)) == 0
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T + 50 * M]
    assert stored(database) == candles


def test_restart_fetches_the_range_again(
    run: Callable[..., int], fake: ServedBitfinex, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(fake, minutes(0, 100))
    assert run(*SERIES, *until(99)) == 0
    changed = minutes(0, 100)
    changed[10] = Candle(changed[10].time, 1.0, 2.0, 0.5, 1.5, 9.0)  # the venue corrected a candle
    serve(fake, changed)
    fake.requests.clear()
    assert run(*SERIES, *until(99), "--restart") == 0
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T]
    assert "100 candles" in (out := capsys.readouterr().out) and "1 new or changed" in out
    assert stored(database) == changed
    assert run(*SERIES, "--restart") == 2


def test_ctrl_c_reports_how_far_it_got_and_a_rerun_resumes(
    run: Callable[..., int],
    fake: ServedBitfinex,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    candles = minutes(0, 400)
    serve(fake, candles)
    real_upsert = CandleStore.upsert
    calls = 0

    async def upsert_then_interrupt(self: CandleStore, key: SeriesKey, page: Sequence[Candle]) -> int:
        nonlocal calls
        changed = await real_upsert(self, key, page)
        calls += 1
        if calls == 2:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does, delivered to asyncio.run's handler
        return changed

    monkeypatch.setattr(CandleStore, "upsert", upsert_then_interrupt)
    # As in a terminal: Python's own SIGINT handler, which asyncio.run replaces only when it is
    # the one installed (a test run before this one may have left another in place).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert run(*SERIES, *until(399), "--page-size", "100") == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err
    assert "interrupted: stored 200 candles for bitfinex:BTC/USD:1m up to 2024-01-01T03:19:00Z" in err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert stored(database) == candles[:200]

    monkeypatch.setattr(CandleStore, "upsert", real_upsert)
    fake.requests.clear()
    assert run(*SERIES, *until(399), "--page-size", "100") == 0
    assert page_starts(fake.requests_to(MINUTE_HIST)) == [T + 200 * M, T + 300 * M]
    assert stored(database) == candles


def test_an_unknown_symbol_is_named(
    run: Callable[..., int], fake: ServedBitfinex, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--exchange", "bitfinex", "--symbol", "BTC/USDX", "--timeframe", "1m", *until(9)) == 1
    message = one_error_line(capsys.readouterr().err)
    assert "Bitfinex has no market 'BTC/USDX'" in message and "did you mean BTC/USD" in message
    assert stored(database, SeriesKey("bitfinex", "BTC/USDX", Timeframe.M1)) == []


def test_an_unknown_exchange_is_named(
    run: Callable[..., int], fake: ServedBitfinex, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--exchange", "bitfinexx", "--symbol", "BTC/USD", "--timeframe", "1m", *until(9)) == 2
    message = one_error_line(capsys.readouterr().err)
    assert "unknown exchange id 'bitfinexx'" in message and "Did you mean bitfinex" in message
    assert fake.requests == []


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--since", "someday"], "--since: 'someday' is not a time"),
        (
            ["--since", "2024-02-01", "--until", "2024-01-01"],
            "--since 2024-02-01 is after --until 2024-01-01",
        ),
        (["--since", "2024-01-01", "--page-size", "0"], "--page-size 0: give at least 1"),
    ],
)
def test_bad_options_are_named(
    run: Callable[..., int],
    fake: ServedBitfinex,
    options: list[str],
    complaint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(*SERIES, *options) == 2
    assert complaint in one_error_line(capsys.readouterr().err)
    assert fake.requests == []


def test_a_database_without_the_schema_is_refused(
    run: Callable[..., int],
    fake: ServedBitfinex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", f"sqlite:///{tmp_path / 'blank.db'}")
    serve(fake, minutes(0, 10))
    assert run(*SERIES, *until(9)) == 1
    assert "has no Tradewinds tables yet: run `tradewinds db upgrade`" in one_error_line(
        capsys.readouterr().err
    )
    assert fake.requests_to("/v2/candles/") == []


# ----------------------------------------------------------------------------- the parts


def test_the_span_ends_at_the_newest_closed_candle_and_resumes_after_the_stored_one() -> None:
    now = T + 10 * M + 30_000  # minute 10 is forming
    assert download.plan_span(Timeframe.M1, T, None, None, now) == download.Span(T, T, T + 9 * M, None)
    assert download.plan_span(Timeframe.M1, T, T + 60 * M, None, now).end == T + 9 * M
    assert download.plan_span(Timeframe.M1, T, T + 5 * M + 1, None, now).end == T + 5 * M
    resumed = download.plan_span(Timeframe.M1, T + 1, T + 8 * M, T + 3 * M, now)
    assert resumed == download.Span(T + M, T + 4 * M, T + 8 * M, T + 3 * M)
    assert download.plan_span(Timeframe.M1, T, T + 8 * M, T + 8 * M, now).empty


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_at(minute: int, pages: int, span: download.Span) -> download.Progress:
    progress = download.Progress(span, Timeframe.M1, cursor=span.start)
    for page in range(pages):
        progress.record(minutes(page * 10, 10), 10, T + minute * M)
    return progress


def test_the_bar_redraws_in_place_on_a_terminal() -> None:
    span = download.Span(T, T, T + 99 * M, None)
    screen = FakeTerminal()
    clock = iter([0.0, 2.0, 4.0, 4.0])
    bar = download.ProgressBar(screen, clock=lambda: next(clock))
    bar.update(progress_at(50, 5, span))
    assert (
        screen.getvalue()
        == "\r[" + "#" * 15 + "-" * 15 + "]  50.0%  at 2024-01-01T00:50:00Z  50 candles  25/s"
    )
    bar.update(progress_at(100, 10, span))
    bar.finish(progress_at(100, 10, span))
    drawn = screen.getvalue()
    assert drawn.count("\r") == 3 and drawn.endswith("100 candles  25/s\n") and drawn.count("\n") == 1
    assert "100.0%  at 2024-01-01T01:39:00Z" in drawn


def test_elsewhere_the_bar_writes_a_line_every_few_pages() -> None:
    span = download.Span(T, T, T + 99 * M, None)
    log = io.StringIO()
    bar = download.ProgressBar(log, every=2, clock=lambda: 1.0)
    for pages in (1, 2, 3):
        bar.update(progress_at(pages * 10, pages, span))
    bar.finish(progress_at(30, 3, span))
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in log.getvalue()
    assert "20.0%" in lines[0] and "30.0%" in lines[1]


async def test_the_registry_picks_the_adapter() -> None:
    adapters: list[Any] = [registry.open_adapter("bitfinex"), registry.open_adapter("kraken")]
    try:
        assert isinstance(adapters[0], BitfinexAdapter)
        assert isinstance(adapters[1], CcxtAdapter) and adapters[1].name == "kraken"
        assert all(isinstance(adapter, ExchangeAdapter) for adapter in adapters)
    finally:
        for adapter in adapters:
            await adapter.close()
    with pytest.raises(ExchangeError, match=r"unknown exchange id 'krakken'.*kraken"):
        registry.open_adapter("krakken")
    assert registry.candle_page_limit("bitfinex") == 10_000 and registry.candle_page_limit("kraken") == 1000


async def test_sim_is_the_simulated_exchange() -> None:
    adapter = registry.open_adapter("sim")
    try:
        assert isinstance(adapter, SimulatedExchange) and adapter.name == "sim"
    finally:
        await adapter.close()


def test_history_downloads_from_the_simulator_too(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The command is venue-neutral: the simulator's history lands exactly as it serves it."""
    since = (wall_clock_ms() // M - 300) * M
    args = ["--exchange", "sim", "--symbol", "ALPHA/USD", "--timeframe", "5m"]
    assert main(["data", "download", *args, "--since", str(since), "--until", str(since + 199 * M)]) == 0

    async def served() -> list[Candle]:
        simulator = SimulatedExchange()
        try:
            return await simulator.fetch_candles("ALPHA/USD", Timeframe.M5, since, since + 199 * M, 1000)
        finally:
            await simulator.close()

    expected = asyncio.run(served())
    assert len(expected) == 40
    assert stored(database, SeriesKey("sim", "ALPHA/USD", Timeframe.M5)) == expected
    assert "downloaded 40 candles for sim:ALPHA/USD:5m" in capsys.readouterr().out
