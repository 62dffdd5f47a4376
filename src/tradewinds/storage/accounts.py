"""Trading accounts: paper (balances kept by Tradewinds) or on an exchange (encrypted API keys).

API keys are encrypted with the platform's `SecretBox` before they reach the database and are
decrypted only for the exchange adapter (`account_credentials`). Views never carry them: at most
the key's last four characters, so an owner can tell two keys apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import msgspec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.trading import AccountKind
from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.secrets import SecretBox, SecretKeyError
from tradewinds.storage.strategies import check_name
from tradewinds.storage.trading_models import AssignmentRow, TradingAccountRow
from tradewinds.storage.users import User, now_ms

DEFAULT_PAPER_BALANCES = {"USD": Decimal("10000")}
DEFAULT_FEE_RATE = Decimal("0.001")
DEFAULT_SLIPPAGE = Decimal(0)
SIM_EXCHANGE = "sim"  # trades on paper accounts only
_CURRENCY = re.compile(r"^[A-Z0-9]{1,16}$")
_EXCHANGE_ID = re.compile(r"^[a-z0-9_]{1,64}$")
_KEY_HINT_MIN_LENGTH = 16  # shorter keys show no characters at all


class Account(msgspec.Struct, frozen=True):
    id: int
    user_id: int
    name: str
    kind: str  # AccountKind.value
    exchange: str | None
    api_key_hint: str | None  # "…abcd": the key's last four characters at most
    has_passphrase: bool
    balances: dict[str, Decimal]  # paper: starting balances
    fee_rate: Decimal | None
    slippage: Decimal | None
    enabled: bool
    paused_reason: str | None
    created_ms: int


class Credentials:
    """Decrypted API keys, for the exchange adapter only; their repr shows none of them."""

    __slots__ = ("api_key", "api_secret", "passphrase")

    def __init__(self, api_key: str, api_secret: str, passphrase: str | None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.passphrase = passphrase

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


def parse_currency(text: str) -> str:
    currency = text.strip().upper()
    if not _CURRENCY.match(currency):
        raise InvalidRecord(f"{text!r} is not a currency code (letters and digits, e.g. USD)")
    return currency


def parse_money(text: str | Decimal, what: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidRecord(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise InvalidRecord(f"{what} {text!r} is not a finite number")
    return value


def check_fraction(value: Decimal, what: str) -> Decimal:
    if not 0 <= value < 1:
        raise InvalidRecord(f"{what} must be a fraction in [0, 1), e.g. 0.001 for 0.1 %; got {value}")
    return value


def check_exchange_id(text: str) -> str:
    exchange = text.strip().lower()
    if not _EXCHANGE_ID.match(exchange):
        raise InvalidRecord(f"{text!r} is not an exchange id (lower-case letters, e.g. bitfinex)")
    return exchange


async def add_paper_account(
    engine: AsyncEngine,
    user: User,
    name: str,
    balances: Mapping[str, Decimal] | None = None,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    slippage: Decimal = DEFAULT_SLIPPAGE,
) -> Account:
    clean: dict[str, Decimal] = {}
    for currency, amount in (DEFAULT_PAPER_BALANCES if balances is None else balances).items():
        code = parse_currency(currency)
        value = parse_money(amount, f"balance of {code}")
        if value < 0:
            raise InvalidRecord(f"balance of {code} is negative ({value})")
        if code in clean:
            raise InvalidRecord(f"{code} is given twice")
        clean[code] = value
    if not clean:
        raise InvalidRecord("a paper account needs a starting balance, e.g. USD=10000")
    row = TradingAccountRow(
        user_id=user.id,
        name=check_name(name, "account"),
        kind=AccountKind.PAPER.value,
        paper_balances=json.dumps({code: str(value) for code, value in clean.items()}),
        paper_fee_rate=check_fraction(fee_rate, "the fee rate"),
        paper_slippage=check_fraction(slippage, "the slippage"),
        enabled=True,
        created_ms=now_ms(),
    )
    return await _insert(engine, user, row)


async def add_exchange_account(
    engine: AsyncEngine,
    user: User,
    name: str,
    exchange: str,
    api_key: str,
    api_secret: str,
    box: SecretBox,
    passphrase: str | None = None,
) -> Account:
    exchange_id = _known_exchange(exchange)
    key, secret = _check_keys(api_key, api_secret)
    phrase = passphrase.strip() if passphrase else None
    row = TradingAccountRow(
        user_id=user.id,
        name=check_name(name, "account"),
        kind=AccountKind.EXCHANGE.value,
        exchange=exchange_id,
        api_key_enc=box.encrypt(key),
        api_secret_enc=box.encrypt(secret),
        passphrase_enc=box.encrypt(phrase) if phrase else None,
        enabled=True,
        created_ms=now_ms(),
    )
    await _insert(engine, user, row)
    return _view(row, box)


async def list_accounts(engine: AsyncEngine, user: User, box: SecretBox | None = None) -> list[Account]:
    """The user's accounts; with `box`, exchange accounts show their key's last characters."""
    async with AsyncSession(engine) as session:
        rows = (
            await session.scalars(
                select(TradingAccountRow)
                .where(TradingAccountRow.user_id == user.id)
                .order_by(TradingAccountRow.name)
            )
        ).all()
    return [_view(row, box) for row in rows]


async def get_account(engine: AsyncEngine, user: User, name: str, box: SecretBox | None = None) -> Account:
    async with AsyncSession(engine) as session:
        row = await _find(session, user, name)
    return _view(row, box)


async def disable_account(engine: AsyncEngine, user: User, name: str) -> tuple[Account, list[int]]:
    """Disable the account and its enabled assignments; returns the assignments' ids."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        row = await _find(session, user, name)
        row.enabled = False
        ids = list(
            (
                await session.scalars(
                    update(AssignmentRow)
                    .where(AssignmentRow.account_id == row.id, AssignmentRow.enabled.is_(True))
                    .values(
                        enabled=False,
                        disabled_reason=f"account {row.name!r} was disabled",
                        updated_ms=now_ms(),
                    )
                    .returning(AssignmentRow.id)
                )
            ).all()
        )
    return _view(row), sorted(ids)


async def enable_account(engine: AsyncEngine, user: User, name: str) -> Account:
    """Enable a disabled account again; its assignments stay disabled until enabled one by one."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        row = await _find(session, user, name)
        row.enabled = True
    return _view(row)


async def replace_api_keys(
    engine: AsyncEngine,
    user: User,
    name: str,
    api_key: str,
    api_secret: str,
    box: SecretBox,
    passphrase: str | None = None,
) -> tuple[Account, list[int]]:
    """New keys for an exchange account; clears a pause the old keys caused. Returns the account
    and its enabled assignments' ids (they may trade again)."""
    key, secret = _check_keys(api_key, api_secret)
    phrase = passphrase.strip() if passphrase else None
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        row = await _find(session, user, name)
        if row.kind != AccountKind.EXCHANGE.value:
            raise InvalidRecord(f"account {row.name!r} is a paper account: it has no API keys")
        row.api_key_enc, row.api_secret_enc = box.encrypt(key), box.encrypt(secret)
        row.passphrase_enc = box.encrypt(phrase) if phrase else None
        row.paused_reason = None
        ids = (
            await session.scalars(
                select(AssignmentRow.id).where(
                    AssignmentRow.account_id == row.id, AssignmentRow.enabled.is_(True)
                )
            )
        ).all()
    return _view(row, box), sorted(ids)


async def account_credentials(
    engine: AsyncEngine, user_id: int, account_id: int, box: SecretBox
) -> Credentials:
    """The decrypted keys of an exchange account (the exchange adapter's, never a view's)."""
    async with AsyncSession(engine) as session:
        row = await session.get(TradingAccountRow, account_id)
    if row is None or row.user_id != user_id:
        raise RecordNotFound(f"no account {account_id} of user {user_id}")
    if row.kind != AccountKind.EXCHANGE.value or not row.api_key_enc or not row.api_secret_enc:
        raise InvalidRecord(f"account {row.name!r} is a paper account: it has no API keys")
    passphrase = box.decrypt(row.passphrase_enc) if row.passphrase_enc else None
    return Credentials(box.decrypt(row.api_key_enc), box.decrypt(row.api_secret_enc), passphrase)


def paper_balances(row: TradingAccountRow) -> dict[str, Decimal]:
    if not row.paper_balances:
        return {}
    return {code: Decimal(amount) for code, amount in json.loads(row.paper_balances).items()}


def _check_keys(api_key: str, api_secret: str) -> tuple[str, str]:
    key, secret = api_key.strip(), api_secret.strip()
    if not key or any(char.isspace() for char in key):
        raise InvalidRecord("the API key is empty or holds spaces")
    if not secret:
        raise InvalidRecord("the API secret is empty (it is read from standard input)")
    return key, secret


async def _find(session: AsyncSession, user: User, name: str) -> TradingAccountRow:
    row = await session.scalar(
        select(TradingAccountRow).where(
            TradingAccountRow.user_id == user.id, TradingAccountRow.name == name.strip()
        )
    )
    if row is None:
        raise RecordNotFound(f"{user.email} has no account {name.strip()!r}")
    return row


async def _insert(engine: AsyncEngine, user: User, row: TradingAccountRow) -> Account:
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
    except IntegrityError:
        raise InvalidRecord(f"{user.email} already has an account {row.name!r}") from None
    return _view(row)


def _known_exchange(text: str) -> str:
    exchange = check_exchange_id(text)
    if exchange == SIM_EXCHANGE:
        raise InvalidRecord("the simulated exchange trades on paper accounts: use --paper")
    import ccxt  # the list of venues; imported here, it takes a second to load

    if exchange not in ccxt.exchanges:
        raise InvalidRecord(f"unknown exchange {exchange!r} (ids are ccxt's, e.g. bitfinex)")
    return exchange


def _key_hint(row: TradingAccountRow, box: SecretBox | None) -> str | None:
    if box is None or not row.api_key_enc:
        return None
    try:
        key = box.decrypt(row.api_key_enc)
    except SecretKeyError:
        return None  # the view stays readable; the adapter reports the unreadable key
    return f"…{key[-4:]}" if len(key) >= _KEY_HINT_MIN_LENGTH else None


def _view(row: TradingAccountRow, box: SecretBox | None = None) -> Account:
    return Account(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        kind=row.kind,
        exchange=row.exchange,
        api_key_hint=_key_hint(row, box),
        has_passphrase=row.passphrase_enc is not None,
        balances=paper_balances(row),
        fee_rate=row.paper_fee_rate,
        slippage=row.paper_slippage,
        enabled=row.enabled,
        paused_reason=row.paused_reason,
        created_ms=row.created_ms,
    )
