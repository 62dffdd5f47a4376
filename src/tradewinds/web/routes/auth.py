"""Signing up, in and out; the signed-in user; their password, trading switch and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import update

from tradewinds.storage import users
from tradewinds.storage.errors import InvalidRecord
from tradewinds.storage.passwords import PasswordError, hash_password
from tradewinds.storage.trading_models import UserRow
from tradewinds.web import sessions
from tradewinds.web.deps import CurrentCaller, CurrentUser, Engine, Settings, check_origin
from tradewinds.web.errors import Invalid, TooManyRequests, Unauthorized, not_found
from tradewinds.web.events import publish_assignments_changed
from tradewinds.web.paging import ItemId
from tradewinds.web.schemas import (
    ERROR_RESPONSES,
    Credentials,
    PasswordChange,
    TokenIn,
    TokenOut,
    TradingSwitch,
    UserOut,
)
from tradewinds.web.security import CSRF_COOKIE, SESSION_COOKIE

router = APIRouter(responses=ERROR_RESPONSES, tags=["auth"])


def user_out(user: users.User) -> UserOut:
    return UserOut(id=user.id, email=user.email, is_admin=user.is_admin, trading_paused=user.trading_paused)


def _secure(request: Request, settings: Settings) -> bool:
    return settings.secure_cookies or request.headers.get("x-forwarded-proto", request.url.scheme) == "https"


def _set_cookies(response: Response, request: Request, settings: Settings, new: sessions.NewSession) -> None:
    max_age = int(settings.session_days * 86_400)
    secure = _secure(request, settings)
    response.set_cookie(
        SESSION_COOKIE, new.token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    # Readable by the page's script, which sends it back as the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/signup", status_code=201, response_model=UserOut)
async def signup(
    body: Credentials, request: Request, response: Response, engine: Engine, settings: Settings
) -> UserOut:
    """Create an account and sign in. The first user of a deployment is its administrator."""
    check_origin(request, settings)
    limiter = request.app.state.signup_limiter
    if (wait := limiter.retry_after(_client(request))) > 0:
        raise TooManyRequests("too many sign-ups from this address; try again later", wait)
    try:
        user = await users.add_user(engine, body.email, body.password)
    except PasswordError as exc:
        raise Invalid(str(exc), "password") from None
    except InvalidRecord as exc:
        raise Invalid(str(exc), "email") from None
    limiter.failed(_client(request))  # counts sign-ups, not failures: a few per address per window
    _set_cookies(
        response, request, settings, await sessions.start_session(engine, user.id, settings.session_days)
    )
    return user_out(user)


@router.post("/auth/login", response_model=UserOut)
async def login(
    body: Credentials, request: Request, response: Response, engine: Engine, settings: Settings
) -> UserOut:
    check_origin(request, settings)
    by_address, by_account = request.app.state.address_limiter, request.app.state.account_limiter
    address, account = _client(request), body.email.strip().lower()
    wait = max(by_address.retry_after(address), by_account.retry_after(account))
    if wait > 0:
        raise TooManyRequests("too many failed sign-ins; wait a few minutes and try again", wait)
    user = await users.authenticate(engine, body.email, body.password)
    if user is None:
        by_address.failed(address)
        by_account.failed(account)
        raise Unauthorized("wrong email or password")
    by_account.succeeded(account)
    _set_cookies(
        response, request, settings, await sessions.start_session(engine, user.id, settings.session_days)
    )
    return user_out(user)


@router.post("/auth/logout", status_code=204)
async def logout(found: CurrentCaller, response: Response, engine: Engine) -> Response:
    if found.session_token is not None:
        await sessions.end_session(engine, found.session_token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChange, found: CurrentCaller, engine: Engine, response: Response
) -> Response:
    """Change the password; every other signed-in browser is signed out."""
    if await users.authenticate(engine, found.user.email, body.current_password) is None:
        raise Invalid("the current password is wrong", "current_password")
    try:
        new_hash = await hash_password(body.new_password)
    except PasswordError as exc:
        raise Invalid(str(exc), "new_password") from None
    async with engine.begin() as conn:
        await conn.execute(update(UserRow).where(UserRow.id == found.user.id).values(password_hash=new_hash))
    await sessions.end_all_sessions(engine, found.user.id, keep_token=found.session_token)
    response.status_code = 204
    return response


@router.put("/me/trading", response_model=UserOut)
async def set_trading(body: TradingSwitch, user: CurrentUser, engine: Engine, request: Request) -> UserOut:
    """The "pause all trading" switch: paused, no new order is placed for any assignment."""
    updated = await users.set_trading_paused(engine, user, body.trading_paused)
    await publish_assignments_changed(
        request.app, user_id=user.id, reason="trading paused" if body.trading_paused else "trading resumed"
    )
    return user_out(updated)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(user: CurrentUser, engine: Engine) -> list[TokenOut]:
    return [TokenOut(**vars(t)) for t in await sessions.list_tokens(engine, user.id)]


@router.post("/tokens", status_code=201, response_model=TokenOut)
async def create_token(body: TokenIn, user: CurrentUser, engine: Engine) -> TokenOut:
    """A personal API token for scripts: `Authorization: Bearer <token>`. Shown once."""
    record, token = await sessions.create_token(engine, user.id, body.name)
    return TokenOut(**vars(record), token=token)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: ItemId, user: CurrentUser, engine: Engine, response: Response) -> Response:
    if not await sessions.revoke_token(engine, user.id, token_id):
        raise not_found("token", token_id)
    response.status_code = 204
    return response
