"""Users, strategies, accounts and assignments on SQLite and PostgreSQL: checks and ownership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage import accounts, assignments, strategies, users
from tradewinds.storage.database import create_engine
from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.secrets import KEY_ENV, SecretBox
from tradewinds.storage.trading_models import TradingAccountRow

D = Decimal
SOURCE = 'function decide()\n  if close(0) > close(1) then return "long" end\n  return "short"\nend\n'
PASSWORD = "correct horse battery"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SecretBox:
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    return SecretBox.load(tmp_path)


async def test_users_email_first_admin_pause(engine: AsyncEngine) -> None:
    first = await users.add_user(engine, "  Alice@Example.COM ", PASSWORD)
    second = await users.add_user(engine, "bob@example.com", PASSWORD)
    assert first.email == "alice@example.com" and first.is_admin
    assert not second.is_admin
    with pytest.raises(InvalidRecord, match="already exists"):
        await users.add_user(engine, "ALICE@example.com", PASSWORD)
    for bad in ("alice", "a@b", "a b@example.com", "@example.com"):
        with pytest.raises(InvalidRecord, match="not an email address"):
            await users.add_user(engine, bad, PASSWORD)
    assert (await users.get_user(engine, "Bob@Example.com")).id == second.id
    with pytest.raises(RecordNotFound, match=r"no user carol@example\.com"):
        await users.get_user(engine, "carol@example.com")
    paused = await users.set_trading_paused(engine, second, True)
    assert paused.trading_paused and (await users.get_user(engine, "bob@example.com")).trading_paused
    assert [u.email for u in await users.list_users(engine)] == ["alice@example.com", "bob@example.com"]
    assert await users.authenticate(engine, "ALICE@example.com", PASSWORD) == first
    assert await users.authenticate(engine, "alice@example.com", "wrong password") is None
    assert await users.authenticate(engine, "nobody@example.com", PASSWORD) is None


async def test_strategy_versions_are_immutable_and_checked(engine: AsyncEngine) -> None:
    alice = await users.add_user(engine, "alice@example.com", PASSWORD)
    first = await strategies.save_strategy(engine, alice, "trend", SOURCE)
    again = await strategies.save_strategy(engine, alice, " trend ", SOURCE)
    assert first.created and first.version.number == 1
    assert not again.created and again.version == first.version
    changed = SOURCE.replace("close(1)", "close(2)")
    second = await strategies.save_strategy(engine, alice, "trend", changed)
    assert second.created and second.version.number == 2
    with pytest.raises(strategies.InvalidStrategy, match="line 3") as caught:
        await strategies.save_strategy(engine, alice, "trend", "function decide()\n  return x +\nend\n")
    assert caught.value.line == 3
    assert (await strategies.get_version(engine, alice, "trend")).source == changed
    assert (await strategies.get_version(engine, alice, "trend", 1)).source == SOURCE
    with pytest.raises(RecordNotFound, match="has no version 7"):
        await strategies.get_version(engine, alice, "trend", 7)
    [summary] = await strategies.list_strategies(engine, alice)
    assert (summary.name, summary.versions, summary.latest_version) == ("trend", 2, 2)
    assert [v.number for v in await strategies.list_versions(engine, alice, "trend")] == [1, 2]


async def test_concurrent_saves_number_versions_once_each(engine: AsyncEngine) -> None:
    alice = await users.add_user(engine, "alice@example.com", PASSWORD)
    await strategies.save_strategy(engine, alice, "s", SOURCE)
    sources = [SOURCE.replace("close(1)", f"close({n})") for n in range(2, 6)]
    saved = await asyncio.gather(*(strategies.save_strategy(engine, alice, "s", src) for src in sources))
    assert sorted(s.version.number for s in saved) == [2, 3, 4, 5]


async def test_accounts_paper_and_exchange_secrets_encrypted(engine: AsyncEngine, box: SecretBox) -> None:
    alice = await users.add_user(engine, "alice@example.com", PASSWORD)
    paper = await accounts.add_paper_account(engine, alice, "paper")
    assert paper.kind == "paper" and paper.balances == {"USD": D("10000")}
    assert paper.fee_rate == D("0.001") and paper.slippage == 0
    custom = await accounts.add_paper_account(
        engine, alice, "two", {"usd": D("500"), "BTC": D("1.5")}, D("0.002"), D("0.0005")
    )
    assert custom.balances == {"USD": D("500"), "BTC": D("1.5")}
    with pytest.raises(InvalidRecord, match="already has an account 'paper'"):
        await accounts.add_paper_account(engine, alice, "paper")
    with pytest.raises(InvalidRecord, match=r"fraction in \[0, 1\)"):
        await accounts.add_paper_account(engine, alice, "x", fee_rate=D("1.5"))
    with pytest.raises(InvalidRecord, match="negative"):
        await accounts.add_paper_account(engine, alice, "x", {"USD": D("-1")})
    key, secret = "AbCdEfGhIjKlMnOpQrSt1234", "the-very-secret-value"
    live = await accounts.add_exchange_account(
        engine, alice, "live", "Bitfinex", key, secret, box, passphrase="pass-phrase"
    )
    assert live.exchange == "bitfinex" and live.api_key_hint == "…1234" and live.has_passphrase
    async with AsyncSession(engine) as session:
        stored = await session.scalar(select(TradingAccountRow).where(TradingAccountRow.name == "live"))
    assert stored is not None
    stored_text = str(vars(stored))
    assert key not in stored_text and secret not in stored_text and "pass-phrase" not in stored_text
    assert secret not in repr(live) and key not in repr(live)
    credentials = await accounts.account_credentials(engine, alice.id, live.id, box)
    assert (credentials.api_key, credentials.api_secret) == (key, secret)
    assert credentials.passphrase == "pass-phrase"
    assert secret not in repr(credentials)
    assert (await accounts.get_account(engine, alice, "live", box)).api_key_hint == "…1234"
    assert (await accounts.get_account(engine, alice, "live")).api_key_hint is None
    with pytest.raises(InvalidRecord, match="unknown exchange 'nosuchvenue'"):
        await accounts.add_exchange_account(engine, alice, "y", "nosuchvenue", key, secret, box)
    with pytest.raises(InvalidRecord, match="use --paper"):
        await accounts.add_exchange_account(engine, alice, "y", "sim", key, secret, box)
    with pytest.raises(InvalidRecord, match="secret is empty"):
        await accounts.add_exchange_account(engine, alice, "y", "bitfinex", key, "  ", box)

    # Keys the exchange refused pause the account; new keys lift the pause.
    async with AsyncSession(engine) as session, session.begin():
        row = await session.get(TradingAccountRow, live.id)
        assert row is not None
        row.paused_reason = "the exchange refused the API key"
    assert (await accounts.get_account(engine, alice, "live")).paused_reason
    replaced, _ = await accounts.replace_api_keys(engine, alice, "live", "N" * 16 + "9876", "new-secret", box)
    assert replaced.paused_reason is None and replaced.api_key_hint == "…9876" and not replaced.has_passphrase
    fresh = await accounts.account_credentials(engine, alice.id, live.id, box)
    assert (fresh.api_key, fresh.api_secret, fresh.passphrase) == ("N" * 16 + "9876", "new-secret", None)
    with pytest.raises(InvalidRecord, match="paper account"):
        await accounts.replace_api_keys(engine, alice, "paper", key, secret, box)


async def test_assignment_checks_and_allocation_budget(engine: AsyncEngine, box: SecretBox) -> None:
    alice = await users.add_user(engine, "alice@example.com", PASSWORD)
    await strategies.save_strategy(engine, alice, "trend", SOURCE)
    await accounts.add_paper_account(engine, alice, "paper", {"USD": D("1000"), "BTC": D("1")})
    await accounts.add_exchange_account(engine, alice, "live", "bitfinex", "k" * 20, "s" * 20, box)

    def assign(**changes: object) -> object:
        options: dict[str, object] = dict(
            strategy="trend", exchange="SIM", symbol="alpha/usd", timeframe="5m", account="paper",
            allocation=D("600"), params={"fast": 5},
        )  # fmt: skip
        options.update(changes)
        return assignments.add_assignment(engine, alice, **options)  # type: ignore[arg-type]

    first = await assign()
    assert (first.exchange, first.symbol, first.timeframe, first.version) == ("sim", "ALPHA/USD", "5m", 1)
    assert first.params == {"fast": 5} and first.enabled and first.target == "short"
    with pytest.raises(InvalidRecord, match=r"exceeds .* has left: 400 of 1000 USD \(600 allocated"):
        await assign(allocation=D("401"))
    second = await assign(allocation=D("400"), symbol="BETA/USD")
    with pytest.raises(InvalidRecord, match="holds no EUR"):
        await assign(symbol="BTC/EUR")
    await assign(symbol="ETH/BTC", allocation=D("1"))  # BTC is budgeted apart from USD
    with pytest.raises(InvalidRecord, match="positive"):
        await assign(allocation=D("0"))
    with pytest.raises(InvalidRecord, match="unknown timeframe"):
        await assign(timeframe="7m")
    with pytest.raises(InvalidRecord, match="3m is not one the platform closes live; choose 1m, 5m"):
        await assign(timeframe="3m")
    with pytest.raises(InvalidRecord, match="not BASE/QUOTE"):
        await assign(symbol="BTCUSD")
    with pytest.raises(InvalidRecord, match="on bitfinex: it cannot trade on sim"):
        await assign(account="live")
    with pytest.raises(RecordNotFound, match="no strategy 'nope'"):
        await assign(strategy="nope")
    with pytest.raises(RecordNotFound, match="no account 'nope'"):
        await assign(account="nope")
    on_exchange = await assign(account="live", exchange="bitfinex", symbol="BTC/USD", allocation=D("5000"))
    assert on_exchange.account == "live"

    disabled = await assignments.set_assignment_enabled(engine, alice, first.id, False)
    assert not disabled.enabled and disabled.disabled_reason == "disabled by its owner"
    third = await assign(allocation=D("600"))  # the disabled one's 600 is free again
    with pytest.raises(InvalidRecord, match="exceeds"):
        await assignments.set_assignment_enabled(engine, alice, first.id, True)
    await assignments.set_assignment_enabled(engine, alice, third.id, False)
    enabled = await assignments.set_assignment_enabled(engine, alice, first.id, True)
    assert enabled.enabled and enabled.disabled_reason is None
    assert [a.id for a in await assignments.list_assignments(engine, alice)] == [
        first.id, second.id, second.id + 1, on_exchange.id, third.id,
    ]  # fmt: skip

    account, stopped = await accounts.disable_account(engine, alice, "paper")
    assert not account.enabled and stopped == [first.id, second.id, second.id + 1]
    assert all(
        not a.enabled and a.disabled_reason == "account 'paper' was disabled"
        for a in await assignments.list_assignments(engine, alice)
        if a.id in stopped
    )
    kept = await assignments.get_assignment(engine, alice, third.id)
    assert kept.disabled_reason == "disabled by its owner"
    with pytest.raises(InvalidRecord, match="account 'paper' is disabled"):
        await assign()
    with pytest.raises(InvalidRecord, match="account 'paper' is disabled"):
        await assignments.set_assignment_enabled(engine, alice, first.id, True)
    # Disabling what a disabled account holds still works (and keeps the first reason).
    kept = await assignments.set_assignment_enabled(engine, alice, first.id, False)
    assert kept.disabled_reason == "account 'paper' was disabled"
    assert (await accounts.enable_account(engine, alice, "paper")).enabled
    again = await assignments.set_assignment_enabled(engine, alice, first.id, True)
    assert again.enabled and again.disabled_reason is None


async def test_concurrent_assignments_cannot_overspend(engine: AsyncEngine) -> None:
    alice = await users.add_user(engine, "alice@example.com", PASSWORD)
    await strategies.save_strategy(engine, alice, "trend", SOURCE)
    await accounts.add_paper_account(engine, alice, "paper", {"USD": D("1000")})
    options = dict(strategy="trend", exchange="sim", timeframe="1m", account="paper", allocation=D("300"))
    attempts = [
        assignments.add_assignment(engine, alice, symbol=f"P{n}/USD", **options)  # type: ignore[arg-type]
        for n in range(6)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    made = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(made) == 3
    assert all(isinstance(o, InvalidRecord) and "exceeds" in str(o) for o in refused)


async def test_a_second_user_sees_none_of_the_first_users_rows(engine: AsyncEngine, box: SecretBox) -> None:
    alice = await users.add_user(engine, "alice@example.com", PASSWORD)
    bob = await users.add_user(engine, "bob@example.com", PASSWORD)
    await strategies.save_strategy(engine, alice, "trend", SOURCE)
    await accounts.add_paper_account(engine, alice, "paper")
    live = await accounts.add_exchange_account(engine, alice, "live", "bitfinex", "k" * 20, "s" * 20, box)
    mine = await assignments.add_assignment(
        engine, alice, strategy="trend", exchange="sim", symbol="A/USD", timeframe="1m",
        account="paper", allocation=D("10"),
    )  # fmt: skip
    assert await strategies.list_strategies(engine, bob) == []
    assert await accounts.list_accounts(engine, bob) == []
    assert await assignments.list_assignments(engine, bob) == []
    with pytest.raises(RecordNotFound):
        await strategies.get_version(engine, bob, "trend")
    with pytest.raises(RecordNotFound):
        await accounts.get_account(engine, bob, "paper")
    with pytest.raises(RecordNotFound):
        await accounts.disable_account(engine, bob, "paper")
    with pytest.raises(RecordNotFound):
        await accounts.account_credentials(engine, bob.id, live.id, box)
    with pytest.raises(RecordNotFound):
        await assignments.get_assignment(engine, bob, mine.id)
    with pytest.raises(RecordNotFound):
        await assignments.set_assignment_enabled(engine, bob, mine.id, False)
    # Bob's own strategy of the same name cannot be put on Alice's account.
    await strategies.save_strategy(engine, bob, "trend", SOURCE)
    with pytest.raises(RecordNotFound, match=r"bob@example\.com has no account 'paper'"):
        await assignments.add_assignment(
            engine, bob, strategy="trend", exchange="sim", symbol="A/USD", timeframe="1m",
            account="paper", allocation=D("10"),
        )  # fmt: skip
    assert (await assignments.get_assignment(engine, alice, mine.id)).enabled
