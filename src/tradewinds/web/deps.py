"""Who is asking, and may they write: the request's user from its session cookie or API token.

CSRF: a write made with the session cookie must carry the session's CSRF token in a header
(a cross-site form cannot set headers) and, when the browser says where it comes from, come from
this site's origin. Writes with an API token need neither: a browser never sends one by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.storage.errors import RecordNotFound
from tradewinds.storage.users import User, get_user_by_id
from tradewinds.web.errors import Forbidden, Unauthorized
from tradewinds.web.security import CSRF_HEADER, SESSION_COOKIE, TOKEN_PREFIX, same_secret
from tradewinds.web.sessions import session_user, token_user
from tradewinds.web.settings import WebSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def settings_of(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


Engine = Annotated[AsyncEngine, Depends(engine_of)]
Settings = Annotated[WebSettings, Depends(settings_of)]


@dataclass(frozen=True)
class Caller:
    user: User
    session_token: str | None  # None when signed in with an API token


def request_origin(request: Request) -> str:
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("host", request.url.netloc)
    return f"{scheme}://{host}"


def check_origin(request: Request, settings: WebSettings) -> None:
    """Refuse a write a browser says comes from another site (login CSRF included)."""
    origin = request.headers.get("origin")
    if origin is None:  # not sent by scripts, nor by every browser on same-origin requests
        return
    if origin == request_origin(request) or origin in settings.trusted_origins:
        return
    raise Forbidden(f"cross-site request from {origin} refused")


async def caller(request: Request, engine: Engine, settings: Settings) -> Caller:
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            raise Unauthorized("the Authorization header must be `Bearer <personal API token>`")
        user_id = await token_user(engine, token.strip())
        if user_id is None:
            raise Unauthorized("the API token is not valid (revoked, or never issued)")
        return Caller(await _user(engine, user_id), None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("sign in first")
    session = await session_user(engine, cookie)
    if session is None:
        raise Unauthorized("your session has ended; sign in again")
    if request.method not in SAFE_METHODS:
        check_origin(request, settings)
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not same_secret(sent, session.csrf_token):
            raise Forbidden(
                "missing or wrong CSRF token (the X-CSRF-Token header must echo the tw_csrf cookie)"
            )
    return Caller(await _user(engine, session.user_id), cookie)


async def _user(engine: AsyncEngine, user_id: int) -> User:
    try:
        return await get_user_by_id(engine, user_id)
    except RecordNotFound:
        raise Unauthorized("this user no longer exists") from None


CurrentCaller = Annotated[Caller, Depends(caller)]


async def current_user(found: CurrentCaller) -> User:
    return found.user


CurrentUser = Annotated[User, Depends(current_user)]


async def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("only administrators can see the platform's health")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
