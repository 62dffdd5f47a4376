"""The web application: the REST API under /api, the live WebSocket, and the built desk.

`create_app` takes what it needs (settings, and optionally an engine and a bus, which `tradewinds
up` shares with the other components); without them it opens the configured database and joins
the data folder's bus if one runs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.storage.database import create_engine, resolve_database_url
from tradewinds.storage.secrets import SecretBox
from tradewinds.web.backtests import BacktestQueue
from tradewinds.web.errors import install_error_handlers
from tradewinds.web.events import LiveHub
from tradewinds.web.routes import (
    accounts,
    admin,
    assignments,
    auth,
    backtests,
    dashboard,
    markets,
    orders,
    strategies,
    ws,
)
from tradewinds.web.security import AttemptLimiter
from tradewinds.web.settings import WebSettings
from tradewinds.web.static import install_static

log = logging.getLogger("tradewinds.web")

_SIGNIN_WINDOW_S = 600.0
_SLOW_S = 2.0  # requests slower than this are logged

# The desk loads nothing from elsewhere; charts draw on canvas; CodeMirror injects style elements.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(settings: WebSettings, engine: AsyncEngine | None = None, bus: Any | None = None) -> FastAPI:
    database_url = resolve_database_url(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or create_engine(database_url)
        app.state.secret_box = SecretBox.load(settings.home)
        app.state.bus = bus
        app.state.hub = LiveHub(bus)
        uploads = settings.home / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        app.state.upload_folder = uploads
        app.state.backtests = BacktestQueue(
            app.state.engine, database_url, uploads, settings.backtest_workers
        )
        await app.state.hub.start()
        await app.state.backtests.start()
        try:
            yield
        finally:
            await app.state.backtests.stop()
            await app.state.hub.stop()
            if own_engine:
                await app.state.engine.dispose()

    app = FastAPI(
        title="Tradewinds",
        version=_version(),
        description="The Tradewinds trading desk's API. Sign in with a session cookie (the desk) "
        "or a personal API token: `Authorization: Bearer tw_...` (POST /api/tokens).",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.market_cache = {}
    app.state.address_limiter = AttemptLimiter(settings.signin_attempts_per_address, _SIGNIN_WINDOW_S)
    app.state.account_limiter = AttemptLimiter(settings.signin_attempts_per_account, _SIGNIN_WINDOW_S)
    app.state.signup_limiter = AttemptLimiter(10, 3600.0)
    install_error_handlers(app)
    for module in (auth, strategies, accounts, assignments, orders, backtests, markets, dashboard, admin, ws):
        app.include_router(module.router, prefix="/api")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        started = time.monotonic()
        log.debug("web: %s %s", request.method, request.url.path)
        response: Response = await call_next(request)
        took = time.monotonic() - started
        if took > _SLOW_S:
            log.warning("web: %s %s took %.1f s", request.method, request.url.path, took)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", _CSP)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    install_static(app)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradewinds")
    except PackageNotFoundError:
        return "0"
