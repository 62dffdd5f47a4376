"""The administration commands as real processes: users, accounts, strategies, assignments,
the two views scripts rely on, secrets kept out of every output, and change notices on the bus."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession

from tradewinds.bus import codec, subjects
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.trading import AssignmentChanged
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine
from tradewinds.storage.trading_models import AssignmentRow, FillRow, OrderRow

TRADEWINDS = [sys.executable, "-m", "tradewinds.cli"]
API_KEY = "KEYabcdefghijklmnopWXYZ"
API_SECRET = "s3cr3t-value-that-must-never-show"
PASSPHRASE = "pass-phrase-never-shown"
NEW_KEY = "NEWKEYabcdefghijklmn5678"
NEW_SECRET = "another-secret-never-shown"
STRATEGY = 'function decide()\n  if close(0) > close(1) then return "long" end\n  return "short"\nend\n'
D = Decimal


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, status: int = 0) -> str:
        result = subprocess.run(
            [*TRADEWINDS, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=120
        )
        self.outputs.append(result.stdout + result.stderr)
        assert result.returncode == status, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout if status == 0 else result.stderr

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self(*args, "--json", stdin=stdin))


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWINDS_")}
    env.update(TRADEWINDS_HOME=str(tmp_path / "home"), TRADEWINDS_DATABASE_URL=database_url)
    return Cli(env)


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "trend.lua"
    path.write_text(STRATEGY)
    return path


def test_main_flow_and_secrets_stay_secret(cli: Cli, strategy_file: Path, tmp_path: Path) -> None:
    made = cli.json("user", "add", "Alice@Example.com")
    assert made["user"]["email"] == "alice@example.com" and made["user"]["is_admin"]
    assert len(made["password"]) >= 20
    assert "password" not in cli(
        "user", "add", "bob@example.com", "--password-stdin", stdin="bobs password\n"
    )
    assert "bob@example.com (id 2)" in cli("user", "list")

    account = cli.json(
        "account", "add", "--user", "alice@example.com", "--name", "bfx", "--exchange", "bitfinex",
        "--api-key", API_KEY, "--passphrase-stdin", stdin=f"{API_SECRET}\n{PASSPHRASE}\n",
    )  # fmt: skip
    assert account["api_key_hint"] == "…WXYZ" and account["has_passphrase"]
    cli("account", "add", "--user", "alice@example.com", "--name", "paper", "--paper", "USD=10000,BTC=1")
    listed = cli.json("account", "list", "--user", "alice@example.com")
    assert [a["name"] for a in listed] == ["bfx", "paper"]
    assert listed[1]["balances"] == {"USD": "10000", "BTC": "1"} and listed[1]["fee_rate"] == "0.001"
    cli("account", "show", "--user", "alice@example.com", "--name", "bfx")
    rekeyed = cli.json(
        "account", "keys", "--user", "alice@example.com", "--name", "bfx", "--api-key", NEW_KEY,
        stdin=f"{NEW_SECRET}\n",
    )  # fmt: skip
    assert rekeyed["api_key_hint"] == "…5678" and not rekeyed["has_passphrase"]

    first = cli.json("strategy", "add", "--user", "alice@example.com", "--name", "trend", str(strategy_file))
    again = cli.json("strategy", "add", "--user", "alice@example.com", "--name", "trend", str(strategy_file))
    assert (first["created"], first["version"]["number"]) == (True, 1)
    assert (again["created"], again["version"]["number"]) == (False, 1)
    strategy_file.write_text(STRATEGY.replace("close(1)", "close(2)"))
    assert "saved trend version 2" in cli(
        "strategy", "add", "--user", "alice@example.com", "--name", "trend", str(strategy_file)
    )
    shown = cli.json("strategy", "show", "--user", "alice@example.com", "--name", "trend", "--version", "1")
    assert shown["source"] == STRATEGY

    assigned = cli.json(
        "assign", "--user", "alice@example.com", "--strategy", "trend", "--version", "1", "--exchange", "sim",
        "--symbol", "ALPHA/USD", "--timeframe", "1m", "--account", "paper", "--allocation", "1000",
        "--param", "fast=5",
    )  # fmt: skip
    assert (assigned["version"], assigned["params"], assigned["enabled"]) == (1, {"fast": 5}, True)
    [view] = cli.json("assignments", "--user", "alice@example.com")
    expected_keys = {
        "id", "strategy", "version", "exchange", "symbol", "timeframe", "account", "enabled", "position",
        "base_held", "realized_pnl", "unrealized_pnl", "fees", "last_evaluation",
    }  # fmt: skip
    assert expected_keys <= set(view)
    assert (view["id"], view["strategy"], view["version"], view["symbol"]) == (
        assigned["id"],
        "trend",
        1,
        "ALPHA/USD",
    )
    assert (view["position"], view["base_held"], view["realized_pnl"], view["fees"]) == (
        "short",
        "0",
        "0",
        "0",
    )
    assert view["last_evaluation"] is None
    assert cli.json("assignments") == [view]  # all users
    assert cli.json("orders", "--user", "alice@example.com") == []

    # The data folder and (on SQLite) the database file with its write-ahead log.
    home_files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    everything = "\n".join(cli.outputs)
    for secret in (API_SECRET, PASSPHRASE, API_KEY, NEW_KEY, NEW_SECRET):
        assert secret not in everything, f"{secret!r} was printed"
        assert secret.encode() not in home_files, f"{secret!r} is stored in the clear"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_broken_strategy_is_refused_with_its_line(cli: Cli, tmp_path: Path) -> None:
    cli("user", "add", "alice@example.com")
    broken = tmp_path / "broken.lua"
    broken.write_text('function decide()\n  local x = 1\n  return "long" +\nend\n')
    error = cli("strategy", "add", "--user", "alice@example.com", "--name", "b", str(broken), status=1)
    assert "broken.lua" in error and "line 4" in error
    assert cli.json("strategy", "list", "--user", "alice@example.com") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mistakes_name_what_is_wrong(cli: Cli, strategy_file: Path) -> None:
    assert "no user nobody@example.com" in cli("strategy", "list", "--user", "nobody@example.com", status=1)
    assert "not an email address" in cli("user", "add", "nobody", status=1)
    cli("user", "add", "alice@example.com")
    assert "assign needs --strategy" in cli("assign", "--user", "alice@example.com", status=2)
    assert "--paper" in cli(
        "account", "add", "--user", "alice@example.com", "--name", "p", "--paper", "USD", status=2
    )
    assert "secret" in cli(
        "account", "add", "--user", "alice@example.com", "--name", "x", "--exchange", "bitfinex",
        "--api-key", API_KEY, stdin="", status=2,
    )  # fmt: skip
    cli("account", "add", "--user", "alice@example.com", "--name", "p", "--paper", "USD=100")
    cli("strategy", "add", "--user", "alice@example.com", "--name", "t", str(strategy_file))
    common = ["--user", "alice@example.com", "--strategy", "t", "--exchange", "sim", "--account", "p"]
    error = cli("assign", *common, "--symbol", "A/USD", "--timeframe", "1m", "--allocation", "101", status=1)
    assert "exceeds what paper account 'p' has left: 100 of 100 USD" in error
    assert "unknown timeframe" in cli(
        "assign", *common, "--symbol", "A/USD", "--timeframe", "2m", "--allocation", "1", status=1
    )
    assert "no assignment 99" in cli("assign", "disable", "99", status=1)


def test_views_replay_fills_and_value_at_the_latest_close(
    cli: Cli, database_url: str, strategy_file: Path
) -> None:
    cli("user", "add", "alice@example.com")
    cli("user", "add", "bob@example.com")
    cli("account", "add", "--user", "alice@example.com", "--name", "paper", "--paper", "USD=10000")
    cli("strategy", "add", "--user", "alice@example.com", "--name", "trend", str(strategy_file))
    made = cli.json(
        "assign", "--user", "alice@example.com", "--strategy", "trend", "--exchange", "sim",
        "--symbol", "ALPHA/USD", "--timeframe", "5m", "--account", "paper", "--allocation", "1000",
    )  # fmt: skip
    # What the exchange adapter records: a paper buy of 1000 USD at 250 (fee in base), then the
    # decision service's last evaluation; the core has stored a later 1m close of 260.
    asyncio.run(_record_trade(database_url, made["id"], made["account_id"], made["user_id"]))

    [view] = cli.json("assignments", "--user", "alice@example.com")
    assert (view["position"], view["target"]) == ("long", "long")
    assert D(view["base_held"]) == D("3.996")
    assert D(view["fees"]) == D("1")  # 0.004 ALPHA at 250
    assert D(view["realized_pnl"]) == 0
    assert D(view["unrealized_pnl"]) == D("3.996") * 260 - 1000
    assert D(view["equity"]) == D("3.996") * 260
    assert view["last_evaluation"] == {
        "candle_time_ms": 1_700_000_000_000 - 1_700_000_000_000 % 300_000,
        "candle_time": "2023-11-14T22:10:00Z",
        "outcome": "decided",
        "result": "long",
        "error": None,
        "message": None,
    }
    assert cli.json("assignments", "--user", "bob@example.com") == []

    [order] = cli.json("orders", "--assignment", str(made["id"]))
    fields = ("assignment_id", "side", "amount", "price", "fee", "fee_currency", "status")
    assert {k: order[k] for k in fields} == {
        "assignment_id": made["id"], "side": "buy", "amount": "4", "price": "250", "fee": "0.004",
        "fee_currency": "ALPHA", "status": "filled",
    }  # fmt: skip
    assert {"id", "client_order_id", "candle_time_ms", "error"} <= set(order)
    assert cli.json("orders", "--user", "bob@example.com") == []
    text = cli("assignments")
    assert "long, 3.996 ALPHA held" in text and "last evaluation 2023-11-14T22:10:00Z: long" in text


async def _record_trade(url: str, assignment_id: int, account_id: int, user_id: int) -> None:
    engine = create_engine(url)
    candle_ms = 1_700_000_000_000 - 1_700_000_000_000 % 300_000
    try:
        async with AsyncSession(engine) as session, session.begin():
            order = OrderRow(
                assignment_id=assignment_id, account_id=account_id, user_id=user_id,
                intent_id=f"{assignment_id}:{candle_ms}", leg=0, client_order_id=12345,
                cid_date="2023-11-14", exchange="sim", symbol="ALPHA/USD", side="buy", amount=D("4"),
                filled=D("4"), price=D("250"), fee=D("0.004"), fee_currency="ALPHA", status="filled",
                candle_time_ms=candle_ms, created_ms=candle_ms, updated_ms=candle_ms,
            )  # fmt: skip
            session.add(order)
            await session.flush()
            session.add(
                FillRow(
                    order_id=order.id,
                    assignment_id=assignment_id,
                    account_id=account_id,
                    side="buy",
                    amount=D("4"),
                    price=D("250"),
                    fee=D("0.004"),
                    fee_currency="ALPHA",
                    time_ms=candle_ms,
                )
            )
            row = await session.get(AssignmentRow, assignment_id)
            assert row is not None
            row.target, row.last_eval_candle_ms = "long", candle_ms
            row.last_eval_outcome, row.last_eval_target = "decided", "long"
        key = SeriesKey("sim", "ALPHA/USD", Timeframe.M1)
        await CandleStore(engine).upsert(key, [Candle(candle_ms + 360_000, 255, 261, 254, 260.0, 3)])
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_changes_are_announced_on_the_bus(cli: Cli, nats_url: str, strategy_file: Path) -> None:
    cli.env["TRADEWINDS_NATS_URL"] = nats_url
    cli("user", "add", "alice@example.com")
    cli("account", "add", "--user", "alice@example.com", "--name", "paper", "--paper", "USD=10000")
    cli("strategy", "add", "--user", "alice@example.com", "--name", "trend", str(strategy_file))
    assign = [
        "assign", "--user", "alice@example.com", "--strategy", "trend", "--exchange", "sim",
        "--symbol", "ALPHA/USD", "--timeframe", "1m", "--account", "paper", "--allocation", "10",
    ]  # fmt: skip
    received = asyncio.run(
        _collect(
            nats_url,
            [assign, ["assign", "disable", "1"], ["pause", "--user", "alice@example.com"]],
            cli,
        )
    )
    assert received == [
        AssignmentChanged(1, 1, "added"),
        AssignmentChanged(1, 1, "disabled"),
        AssignmentChanged(None, 1, "user paused"),
    ]
    assert "the platform was told" in cli.outputs[-1]


async def _collect(url: str, commands: list[list[str]], cli: Cli) -> list[AssignmentChanged]:
    client = await nats.connect(url)
    received: list[AssignmentChanged] = []

    async def handle(msg: Any) -> None:
        received.append(codec.decode(msg.data, AssignmentChanged))

    await client.subscribe(subjects.ASSIGNMENTS_CHANGED, cb=handle)
    await client.flush()
    for command in commands:
        await asyncio.to_thread(cli, *command)
    for _ in range(50):
        if len(received) >= len(commands):
            break
        await asyncio.sleep(0.05)
    await client.close()
    return received


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_bus_the_change_is_stored_and_said_so(cli: Cli, strategy_file: Path) -> None:
    cli.env["TRADEWINDS_SECRET_KEY"] = Fernet.generate_key().decode()
    cli("user", "add", "alice@example.com")
    out = cli("pause", "--user", "alice@example.com")
    assert "no bus reachable" in out
    assert cli.json("user", "show", "alice@example.com")["user"]["trading_paused"]
    assert "resumed trading" in cli("resume", "--user", "alice@example.com")
