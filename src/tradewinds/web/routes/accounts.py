"""Trading accounts: paper ones, and exchange ones whose keys are checked by a balance fetch when
saved, stored encrypted, and never shown or returned again (only the key's last characters)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage import accounts
from tradewinds.storage.errors import InvalidRecord
from tradewinds.storage.trading_models import TradingAccountRow
from tradewinds.storage.users import User
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import Invalid, not_found
from tradewinds.web.events import publish_assignments_changed
from tradewinds.web.paging import ItemId, Limit, Offset, page
from tradewinds.web.schemas import ERROR_RESPONSES, AccountIn, AccountOut, ExchangeAccountIn, Page

router = APIRouter(responses=ERROR_RESPONSES, tags=["accounts"])

KEY_CHECK_TIMEOUT_S = 20.0


def account_out(a: accounts.Account) -> AccountOut:
    return AccountOut(
        id=a.id,
        name=a.name,
        kind="paper" if a.kind == "paper" else "exchange",
        exchange=a.exchange,
        balances={code: str(v) for code, v in a.balances.items()},
        fee_rate=None if a.fee_rate is None else str(a.fee_rate),
        slippage=None if a.slippage is None else str(a.slippage),
        api_key_hint=a.api_key_hint,
        paused_reason=a.paused_reason,
        enabled=a.enabled,
        created_ms=a.created_ms,
    )


async def owned_account_name(engine: AsyncEngine, user: User, account_id: int) -> str:
    async with AsyncSession(engine) as session:
        name = await session.scalar(
            select(TradingAccountRow.name).where(
                TradingAccountRow.id == account_id, TradingAccountRow.user_id == user.id
            )
        )
    if name is None:
        raise not_found("account", account_id)
    return name


async def check_keys(body: ExchangeAccountIn) -> None:
    """Fetch the balance with the keys: the exchange says at once whether it accepts them."""
    from tradewinds.exchange.adapter import AuthenticationFailed, ExchangeError
    from tradewinds.exchange.registry import open_adapter

    try:
        adapter = open_adapter(body.exchange.lower(), api_key=body.api_key, secret=body.api_secret)
    except (ExchangeError, ValueError) as exc:
        raise Invalid(str(exc), "exchange") from None
    try:
        async with asyncio.timeout(KEY_CHECK_TIMEOUT_S):
            await adapter.fetch_balances()
    except AuthenticationFailed as exc:
        raise Invalid(f"{body.exchange} refused these API keys: {exc}", "api_key") from None
    except TimeoutError:
        raise Invalid(
            f"{body.exchange} did not answer within {KEY_CHECK_TIMEOUT_S:.0f} s; try again", "exchange"
        ) from None
    except ExchangeError as exc:
        raise Invalid(f"{body.exchange} could not check these keys: {exc}", "exchange") from None
    finally:
        await adapter.close()


@router.get("/accounts", response_model=Page[AccountOut])
async def list_accounts(
    request: Request, user: CurrentUser, engine: Engine, offset: Offset = 0, limit: Limit = 50
) -> Page[AccountOut]:
    found = await accounts.list_accounts(engine, user, request.app.state.secret_box)
    return page([account_out(a) for a in found], offset, limit)


@router.post("/accounts", status_code=201, response_model=AccountOut)
async def create_account(body: AccountIn, request: Request, user: CurrentUser, engine: Engine) -> AccountOut:
    try:
        if body.kind == "paper":
            created = await accounts.add_paper_account(
                engine,
                user,
                body.name,
                {code: Decimal(v.strip()) for code, v in body.balances.items()},
                fee_rate=Decimal(body.fee_rate.strip()),
                slippage=Decimal(body.slippage.strip()),
            )
        else:
            await check_keys(body)
            created = await accounts.add_exchange_account(
                engine,
                user,
                body.name,
                body.exchange,
                body.api_key,
                body.api_secret,
                request.app.state.secret_box,
                passphrase=body.passphrase,
            )
    except InvalidRecord as exc:
        field = (
            "name"
            if "name" in str(exc) or "already" in str(exc)
            else "balances"
            if body.kind == "paper"
            else "exchange"
        )
        raise Invalid(str(exc), field) from None
    return account_out(created)


@router.get("/accounts/{account_id}", response_model=AccountOut)
async def get_account(account_id: ItemId, request: Request, user: CurrentUser, engine: Engine) -> AccountOut:
    name = await owned_account_name(engine, user, account_id)
    return account_out(await accounts.get_account(engine, user, name, request.app.state.secret_box))


@router.delete("/accounts/{account_id}", status_code=204)
async def disable_account(
    account_id: ItemId, request: Request, user: CurrentUser, engine: Engine, response: Response
) -> Response:
    """Disable the account (kept for its history) and its assignments."""
    name = await owned_account_name(engine, user, account_id)
    await accounts.disable_account(engine, user, name)
    await publish_assignments_changed(request.app, user_id=user.id, reason="account disabled")
    response.status_code = 204
    return response
