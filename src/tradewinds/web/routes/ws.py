"""`/api/ws`: the signed-in user's live updates. The browser sends what it looks at
(`{"watch": {"exchange": "sim", "symbol": "ALPHA/USD", "timeframe": "1m"}}`, or `{"watch": null}`);
the server sends candles of that market as they close, the user's order events, and `tick`s
that say prices and evaluations moved.

Signed in by the session cookie; the Origin must be this site's (a page elsewhere cannot open
a socket with the user's cookie)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from tradewinds.web.security import SESSION_COOKIE
from tradewinds.web.sessions import session_user

router = APIRouter()
log = logging.getLogger("tradewinds.web")

_CLOSE_POLICY = 1008


def _same_origin(websocket: WebSocket, trusted: tuple[str, ...]) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = websocket.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}") or origin in trusted


def _watch(message: Any) -> tuple[str, str, str] | None:
    if not isinstance(message, dict) or "watch" not in message:
        raise ValueError('expected {"watch": {"exchange", "symbol", "timeframe"}} or {"watch": null}')
    target = message["watch"]
    if target is None:
        return None
    fields = [
        target.get(k) if isinstance(target, dict) else None for k in ("exchange", "symbol", "timeframe")
    ]
    if not all(isinstance(f, str) and 0 < len(f) <= 64 for f in fields):
        raise ValueError("watch needs exchange, symbol and timeframe as short strings")
    exchange, symbol, timeframe = fields
    return str(exchange).lower(), str(symbol).upper(), str(timeframe)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    app = websocket.app
    token = websocket.cookies.get(SESSION_COOKIE)
    session = await session_user(app.state.engine, token) if token else None
    if session is None or not _same_origin(websocket, app.state.settings.trusted_origins):
        await websocket.close(
            code=_CLOSE_POLICY, reason="sign in first" if session is None else "cross-site socket refused"
        )
        return
    await websocket.accept()
    hub = app.state.hub
    viewer = hub.join(session.user_id)
    log.debug("web: live socket opened for user %s (%d open)", session.user_id, hub.viewers())
    await websocket.send_json({"type": "hello", "live": hub.live})

    async def send() -> None:
        while True:
            await websocket.send_json(await viewer.queue.get())

    sender = asyncio.create_task(send())
    try:
        while True:
            text = await websocket.receive_text()
            try:
                target = _watch(json.loads(text))
            except ValueError as exc:
                await websocket.send_json({"type": "error", "message": str(exc)})
                continue
            viewer.watching.clear()
            if target is not None:
                viewer.watching.add(target)
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)  # a cancel of this handler still ends it
        hub.leave(viewer)
        log.debug("web: live socket closed for user %s (%d open)", session.user_id, hub.viewers())
