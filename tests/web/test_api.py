"""What each route does for its owner: the happy path and the refusals, with messages naming the field."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.exchange.fake_bitfinex import FakeBitfinex
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine

SOURCE = 'local s = ta.sma(3)\nif close() > s() then return "long" end\nreturn "short"\n'
HOUR = 3_600_000


def csv_of(n: int, step_ms: int = HOUR) -> str:
    lines = ["timestamp_ms,open,high,low,close,volume"]
    for i in range(n):
        o, c = 100 + i % 7, 100 + (i * 3) % 7
        lines.append(f"{i * step_ms},{o},{max(o, c) + 1},{min(o, c) - 1},{c},1")
    return "\n".join(lines) + "\n"


def store_minutes(database_url: str, exchange: str, symbol: str, n: int) -> None:
    async def store() -> None:
        engine = create_engine(database_url)
        try:
            candles = [
                Candle(i * 60_000, 10 + i % 5, 11 + i % 5, 9 + i % 5, 10.5 + i % 3, 2.0) for i in range(n)
            ]
            await CandleStore(engine).upsert(SeriesKey(exchange, symbol, Timeframe.M1), candles)
        finally:
            await engine.dispose()

    asyncio.run(store())


def wait_done(client: TestClient, backtest_id: int, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = client.get(f"/api/backtests/{backtest_id}").json()
        if body["status"] not in ("queued", "running"):
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"backtest {backtest_id} did not finish within {within} s")


def test_strategies_and_versions(alice: TestClient) -> None:
    first = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE})
    assert first.status_code == 201 and first.json()["number"] == 1
    sid = first.json()["strategy_id"]
    again = alice.post(f"/api/strategies/{sid}/versions", json={"source": SOURCE})
    assert again.json()["number"] == 1  # the same source is not a new version
    second = alice.post(f"/api/strategies/{sid}/versions", json={"source": SOURCE.replace("3", "5")})
    assert second.status_code == 201 and second.json()["number"] == 2
    versions = alice.get(f"/api/strategies/{sid}/versions").json()
    assert [v["number"] for v in versions["items"]] == [2, 1] and versions["total"] == 2
    assert alice.get(f"/api/strategies/{sid}/versions/1").json()["source"] == SOURCE
    assert alice.get(f"/api/strategies/{sid}/versions/9").status_code == 404
    assert alice.get(f"/api/strategies/{sid}").json()["latest_version"] == 2
    listed = alice.get("/api/strategies", params={"q": "TRE"}).json()
    assert [s["name"] for s in listed["items"]] == ["trend"]
    duplicate = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE})
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "name"


def test_a_broken_strategy_is_refused_at_its_line(alice: TestClient) -> None:
    broken = alice.post(
        "/api/strategies", json={"name": "x", "source": 'local a = 1\nif a then return "long"\n'}
    )
    assert broken.status_code == 422
    error = broken.json()["errors"][0]
    assert error["field"] == "source" and error["message"].startswith("line ")
    assert alice.get("/api/strategies").json()["total"] == 0


def test_check_reports_problems_without_saving(alice: TestClient) -> None:
    ok = alice.post("/api/strategies/check", json={"source": SOURCE}).json()
    assert ok["ok"] is True and ok["errors"] == []
    syntax = alice.post("/api/strategies/check", json={"source": "local x = \nreturn 'long'"}).json()
    assert syntax["ok"] is False and syntax["errors"][0]["line"] == 2
    runtime = alice.post(
        "/api/strategies/check", json={"source": "local s = ta.sma(10)\nreturn s() + nil"}
    ).json()
    assert runtime["ok"] is False and runtime["errors"][0]["line"] == 2
    assert "dry run" in runtime["errors"][0]["message"]
    assert alice.get("/api/strategies").json()["total"] == 0


def test_templates_compile(alice: TestClient) -> None:
    templates = alice.get("/api/strategy-templates").json()
    assert {t["id"] for t in templates} == {
        "paper_example",
        "rsi_reversion",
        "macd_trend",
        "bollinger_breakout",
    }
    for template in templates:
        assert alice.post("/api/strategies/check", json={"source": template["source"]}).json()["ok"], (
            template["id"]
        )


def test_paper_accounts(alice: TestClient) -> None:
    created = alice.post(
        "/api/accounts",
        json={"kind": "paper", "name": "Paper", "balances": {"USD": "2500.50"}, "fee_rate": "0.002"},
    )
    assert created.status_code == 201
    body = created.json()
    assert (
        body["balances"] == {"USD": "2500.50"}
        and body["fee_rate"] == "0.002"
        and body["api_key_hint"] is None
    )
    twice = alice.post("/api/accounts", json={"kind": "paper", "name": "Paper", "balances": {"USD": "1"}})
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "name"
    bad = alice.post("/api/accounts", json={"kind": "paper", "name": "X", "balances": {"USD": "-5"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("balances")
    unknown = alice.post("/api/accounts", json={"kind": "margin", "name": "X", "balances": {"USD": "5"}})
    assert unknown.status_code == 422
    assert alice.delete(f"/api/accounts/{body['id']}").status_code == 204
    assert alice.get(f"/api/accounts/{body['id']}").json()["enabled"] is False


@pytest.fixture
def fake_bitfinex(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBitfinex]:
    """The project's fake Bitfinex, served from its own thread and loop (the app has another)."""
    server = FakeBitfinex()
    server.add_account("good-api-key-1234", "good-secret")
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.__aenter__())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    yield server
    asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_exchange_keys_are_checked_and_never_returned(
    alice: TestClient, fake_bitfinex: FakeBitfinex, caplog: pytest.LogCaptureFixture
) -> None:
    refused = alice.post(
        "/api/accounts",
        json={
            "kind": "exchange",
            "name": "bfx",
            "exchange": "bitfinex",
            "api_key": "wrong-key",
            "api_secret": "s3cr3t-wrong",
        },
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "api_key" and "refused" in refused.json()["detail"]
    created = alice.post(
        "/api/accounts",
        json={
            "kind": "exchange",
            "name": "bfx",
            "exchange": "bitfinex",
            "api_key": "good-api-key-1234",
            "api_secret": "good-secret",
        },
    )
    assert created.status_code == 201, created.text
    everything = (
        created.text
        + alice.get("/api/accounts").text
        + alice.get(f"/api/accounts/{created.json()['id']}").text
    )
    assert "good-secret" not in everything and "good-api-key-1234" not in everything
    assert created.json()["api_key_hint"] == "…1234"
    assert "good-secret" not in caplog.text and "s3cr3t-wrong" not in caplog.text


def test_assignments(alice: TestClient) -> None:
    version = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE}).json()
    account = alice.post(
        "/api/accounts", json={"kind": "paper", "name": "Paper", "balances": {"USD": "1000"}}
    ).json()
    base = {
        "version_id": version["id"],
        "exchange": "sim",
        "symbol": "ALPHA/USD",
        "timeframe": "5m",
        "account_id": account["id"],
    }
    created = alice.post("/api/assignments", json={**base, "allocation": "600", "params": {"fast": 3}})
    assert created.status_code == 201, created.text
    a = created.json()
    assert (a["position"], a["base_held"], a["quote_held"], a["realized_pnl"]) == ("short", "0", "600", "0")
    assert (
        a["strategy"] == "trend" and a["strategy_id"] == version["strategy_id"] and a["params"] == {"fast": 3}
    )
    over = alice.post("/api/assignments", json={**base, "allocation": "500"})
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "allocation"
    wrong_quote = alice.post("/api/assignments", json={**base, "symbol": "ALPHA/EUR", "allocation": "5"})
    assert wrong_quote.status_code == 422
    bad_timeframe = alice.post("/api/assignments", json={**base, "timeframe": "7m", "allocation": "5"})
    assert bad_timeframe.status_code == 422 and bad_timeframe.json()["errors"][0]["field"] == "timeframe"
    disabled = alice.patch(f"/api/assignments/{a['id']}", json={"enabled": False})
    assert disabled.json()["enabled"] is False and disabled.json()["disabled_reason"]
    assert alice.patch(f"/api/assignments/{a['id']}", json={"enabled": True}).json()["enabled"] is True
    assert alice.get("/api/assignments").json()["total"] == 1


def test_backtest_on_an_upload_matches_the_engine(alice: TestClient) -> None:
    from tradewinds.backtest.runner import run_backtest
    from tradewinds.domain.candle_csv import parse_candle_csv

    version = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE}).json()
    text = csv_of(300)
    form = {"version_id": str(version["id"]), "timeframe": "1h", "cash": "5000", "fee": "0.002"}
    queued = alice.post("/api/backtests/upload", data=form, files={"file": ("year.csv", text, "text/csv")})
    assert queued.status_code == 202 and queued.json()["status"] in ("queued", "running")
    done = wait_done(alice, queued.json()["id"])
    assert done["status"] == "done", done["error"]
    expected = run_backtest(SOURCE, parse_candle_csv(text), cash=5000.0, fee=0.002, timeframe=Timeframe.H1)
    metrics = done["result"]["metrics"]
    assert metrics["trades"] == expected.metrics.trades and metrics["final_equity"] == pytest.approx(
        expected.metrics.final_equity
    )
    assert len(done["result"]["trades"]) == expected.metrics.trades
    assert len(done["result"]["candles"]) == 300 and done["result"]["equity"]
    listed = alice.get("/api/backtests").json()["items"][0]
    assert listed["result"] is None and listed["metrics"]["trades"] == expected.metrics.trades


def test_a_bad_candle_file_is_refused_naming_its_line(alice: TestClient) -> None:
    version = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE}).json()
    broken = csv_of(5).replace("\n3600000,", "\n3600000,abc,", 1)
    refused = alice.post(
        "/api/backtests/upload",
        data={"version_id": str(version["id"])},
        files={"file": ("bad.csv", broken, "text/csv")},
    )
    assert refused.status_code == 422
    assert (
        refused.json()["errors"][0]["field"] == "file"
        and "bad.csv:3: open 'abc' is not a number" in refused.json()["detail"]
    )
    assert alice.get("/api/backtests").json()["total"] == 0


def test_backtest_on_stored_minutes_rolled_up(alice: TestClient, database_url: str) -> None:
    store_minutes(database_url, "sim", "ALPHA/USD", 600)
    version = alice.post("/api/strategies", json={"name": "trend", "source": SOURCE}).json()
    queued = alice.post(
        "/api/backtests",
        json={"version_id": version["id"], "exchange": "SIM", "symbol": "alpha/usd", "timeframe": "15m"},
    )
    assert queued.status_code == 202, queued.text
    done = wait_done(alice, queued.json()["id"])
    assert done["status"] == "done", done["error"]
    assert len(done["result"]["candles"]) == 40  # 600 minutes in whole 15-minute buckets
    missing = alice.post(
        "/api/backtests",
        json={"version_id": version["id"], "exchange": "sim", "symbol": "NOPE/USD", "timeframe": "1h"},
    )
    failed = wait_done(alice, missing.json()["id"])
    assert failed["status"] == "failed" and "no" in failed["error"] and "NOPE/USD" in failed["error"]


def test_a_running_backtest_can_be_canceled(alice: TestClient) -> None:
    slow = 'local n = 0\nfor i = 1, 2e6 do n = n + i end\nreturn "long"\n'
    version = alice.post("/api/strategies", json={"name": "slow", "source": slow}).json()
    queued = alice.post("/api/backtests/upload", data={"version_id": str(version["id"]), "timeframe": "1h"},
                        files={"file": ("c.csv", csv_of(3000), "text/csv")}).json()  # fmt: skip
    canceled = alice.post(f"/api/backtests/{queued['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert alice.post(f"/api/backtests/{queued['id']}/cancel").status_code == 409
    assert alice.delete(f"/api/backtests/{queued['id']}").status_code == 204
    assert alice.get(f"/api/backtests/{queued['id']}").status_code == 404


def test_markets_and_candles(alice: TestClient, database_url: str) -> None:
    store_minutes(database_url, "sim", "ALPHA/USD", 120)
    markets = alice.get("/api/markets", params={"q": "alpha"}).json()
    assert markets["total"] == 1
    market = markets["items"][0]
    assert (
        market["exchange"] == "sim"
        and market["timeframes"] == ["1m"]
        and market["last_price"] == 10.5 + 119 % 3
    )
    five = alice.get("/api/markets/sim/candles", params={"symbol": "ALPHA/USD", "timeframe": "5m"}).json()
    assert len(five["candles"]) == 24 and five["candles"][0][0] == 0
    assert five["candles"][0][5] == pytest.approx(10.0)  # five minutes of volume 2
    limited = alice.get(
        "/api/markets/sim/candles", params={"symbol": "alpha/usd", "timeframe": "1m", "limit": 10}
    ).json()
    assert [c[0] for c in limited["candles"]] == [i * 60_000 for i in range(110, 120)]
    assert alice.get("/api/markets/sim/candles", params={"symbol": "NOPE/USD"}).status_code == 404
    assert (
        alice.get("/api/markets/sim/candles", params={"symbol": "ALPHA/USD", "timeframe": "2m"}).status_code
        == 422
    )
    backwards = alice.get("/api/markets/sim/candles", params={"symbol": "ALPHA/USD", "since": 5, "until": 1})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "since"


def test_pages_are_not_an_api_and_unknown_api_routes_say_so(alice: TestClient) -> None:
    assert alice.get("/api/nope").status_code == 404
    assert alice.get("/api/nope").json()["detail"] == "no API route /api/nope"
    page = alice.get("/strategies/3")
    assert page.status_code in (200, 503)  # the desk, or a note that it is not built
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
