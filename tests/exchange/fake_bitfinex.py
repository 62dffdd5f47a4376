"""A fake Bitfinex API v2 on loopback: REST and WebSocket on one port, driven by the test.

It follows /work/shared/notes/bitfinex-v2.md §5: candles (`hist`/`last`, wire order
`[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`), the two `conf` requests of ccxt's load_markets, ticker,
platform status, signed requests (HMAC-SHA384, increasing nonce), wallets, order submit/history/
trades, and the public WebSocket (info, subscribe, snapshot newest-first, updates, heartbeats,
ping, unsubscribe, a channel cap). Tests own the data and the clock: they push candles (which
stream to subscribers at once) and set `now_ms`. Hooks inject what the real venue does at its
worst: restart (20051), maintenance (20060/20061), a connection that goes silent, rate limiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSMsgType, web

Row = list[float]  # [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "4h", "6h", "12h", "1D", "7D", "1W", "14D", "1M")
ORDER_TYPES = (
    "LIMIT",
    "EXCHANGE LIMIT",
    "MARKET",
    "EXCHANGE MARKET",
    "STOP",
    "EXCHANGE STOP",
    "STOP LIMIT",
    "EXCHANGE STOP LIMIT",
    "TRAILING STOP",
    "EXCHANGE TRAILING STOP",
    "FOK",
    "EXCHANGE FOK",
    "IOC",
    "EXCHANGE IOC",
)
DEFAULT_PAIRS = (
    ("BTCUSD", "0.00006", "2000.0"),
    ("ETHUSD", "0.001", "5000.0"),
    ("BTCUST", "0.00006", "2000.0"),
    ("ETHBTC", "0.001", "5000.0"),
    ("AVAX:USD", "0.1", "10000.0"),
)


def wire_row(time_ms: int, open_: float, high: float, low: float, close: float, volume: float) -> Row:
    """A candle in Bitfinex's order from the usual O,H,L,C,V arguments."""
    return [time_ms, open_, close, high, low, volume]


def generated_pairs(count: int) -> list[str]:
    """`count` made-up pairs QAAUSD, QABUSD, ... (three-letter codes no exchange remaps)."""
    letters = itertools.product(string.ascii_uppercase, repeat=2)
    return [f"Q{a}{b}USD" for a, b in itertools.islice(letters, count)]


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    body: str


@dataclass
class FakeAccount:
    secret: str
    wallets: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)  # -> [balance, available]
    last_nonce: int = 0
    orders: list[list[Any]] = field(default_factory=list)  # 32-slot order arrays, oldest first
    trades: list[list[Any]] = field(default_factory=list)


class _BitfinexError(Exception):
    def __init__(self, code: int, text: str, status: int = 500) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.status = status


@dataclass
class FakeConnection:
    """One WebSocket client as the server sees it."""

    number: int
    ws: web.WebSocketResponse
    channels: dict[int, str] = field(default_factory=dict)  # chanId -> key
    last_sent: dict[int, float] = field(default_factory=dict)  # chanId -> monotonic time
    silenced: bool = False  # sends nothing at all, keeps the socket open

    async def send(self, message: Any) -> None:
        if self.silenced or self.ws.closed:
            return
        try:
            await self.ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError):
            return
        if isinstance(message, list):
            self.last_sent[message[0]] = time.monotonic()


class FakeBitfinex:
    def __init__(
        self,
        *,
        extra_pairs: int = 0,
        heartbeat_s: float = 15.0,
        snapshot_size: int = 240,
        max_channels: int = 30,
        taker_fee: Decimal = Decimal("0.002"),
        now_ms: int | None = None,
        fill_market_orders: bool = True,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.snapshot_size = snapshot_size
        self.max_channels = max_channels
        self.taker_fee = taker_fee
        self.fill_market_orders = fill_market_orders
        # Test hooks for orders: the next `drop_submits` submits are cut off before they execute;
        # the next `lose_replies` execute, and then their connection is cut before the reply.
        self.drop_submits = 0
        self.lose_replies = 0
        self.reply_delay_s = 0.0  # each submit executes, then waits this long before it answers
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.pairs: dict[str, tuple[str, str]] = {pair: (lo, hi) for pair, lo, hi in DEFAULT_PAIRS}
        for pair in generated_pairs(extra_pairs):
            self.pairs[pair] = ("1.0", "100000.0")
        self.accounts: dict[str, FakeAccount] = {}
        self.prices: dict[str, Decimal] = {}  # symbol id -> last price for market orders
        self.requests: list[SeenRequest] = []
        self.connections: list[FakeConnection] = []  # open ones
        self.connections_opened = 0
        self.subscribe_requests = 0
        self.rest_maintenance = False
        self.ws_maintenance = False
        self._rate_limited_requests = 0
        self._candles: dict[tuple[str, str], dict[int, Row]] = {}  # (timeframe, symbol id) -> rows
        self._chan_ids = itertools.count(1000)
        self._order_ids = itertools.count(50_000_000)
        self._trade_ids = itertools.count(900_000)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeBitfinex:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/ws/2", self._ws_handler)
        app.router.add_get("/v2/candles/{candle}/{section}", self._candles_handler)
        app.router.add_get("/v2/ticker/{symbol}", self._ticker_handler)
        app.router.add_get("/v2/tickers", self._tickers_handler)
        app.router.add_get("/v2/platform/status", self._status_handler)
        app.router.add_get("/v2/conf/{keys}", self._conf_handler)
        app.router.add_post("/v2/auth/r/wallets", self._wallets_handler)
        app.router.add_post("/v2/auth/w/order/submit", self._submit_handler)
        app.router.add_post("/v2/auth/r/orders", self._active_orders_handler)
        app.router.add_post("/v2/auth/r/orders/hist", self._orders_hist_handler)
        app.router.add_post("/v2/auth/r/orders/{symbol}/hist", self._orders_hist_handler)
        app.router.add_post("/v2/auth/r/orders/{symbol}", self._active_orders_handler)
        app.router.add_post("/v2/auth/r/order/{ref}/trades", self._order_trades_handler)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for conn in list(self.connections):
            await conn.ws.close()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBitfinex:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/ws/2"

    def env(self) -> dict[str, str]:
        """Environment variables that point Tradewinds at this fake."""
        return {"TRADEWINDS_BITFINEX_REST_URL": self.rest_url, "TRADEWINDS_BITFINEX_WS_URL": self.ws_url}

    # ------------------------------------------------------------------ data the test controls

    def add_account(self, api_key: str, secret: str) -> FakeAccount:
        account = FakeAccount(secret=secret)
        self.accounts[api_key] = account
        return account

    def set_wallet(
        self, api_key: str, currency: str, balance: str, available: str | None = None, kind: str = "exchange"
    ) -> None:
        amount = Decimal(balance)
        self.accounts[api_key].wallets[(kind, currency)] = [
            amount,
            Decimal(available) if available is not None else amount,
        ]

    def set_price(self, symbol_id: str, price: str) -> None:
        self.prices[symbol_id] = Decimal(price)

    def load_rows(self, symbol_id: str, timeframe: str, rows: Iterable[Row]) -> None:
        """Store history without streaming it."""
        series = self._candles.setdefault((timeframe, symbol_id), {})
        for row in rows:
            series[int(row[0])] = list(row)

    async def push_candle(self, symbol_id: str, row: Row, timeframe: str = "1m") -> None:
        """Store a candle (new, or a changed forming one) and stream it to subscribers."""
        self.load_rows(symbol_id, timeframe, [row])
        if timeframe == "1m":
            self.prices[symbol_id] = Decimal(str(row[2]))
        if self.ws_maintenance:
            return
        key = f"trade:{timeframe}:{symbol_id}"
        for conn in list(self.connections):
            for chan_id, chan_key in list(conn.channels.items()):
                if chan_key == key:
                    await conn.send([chan_id, row])

    def rows(self, symbol_id: str, timeframe: str = "1m") -> list[Row]:
        series = self._candles.get((timeframe, symbol_id), {})
        return [series[t] for t in sorted(series)]

    # ------------------------------------------------------------------ hooks for bad days

    def rate_limit(self, requests: int) -> None:
        """Answer the next `requests` REST requests with HTTP 429 and error 11010."""
        self._rate_limited_requests = requests

    async def send_info(self, code: int, msg: str) -> None:
        for conn in list(self.connections):
            await conn.send({"event": "info", "code": code, "msg": msg})

    async def restart_websockets(self) -> None:
        """What a server restart looks like: info 20051 on every connection, then a close."""
        await self.send_info(20051, "Stop/Restart Websocket Server (please reconnect)")
        for conn in list(self.connections):
            await conn.ws.close(code=1012, message=b"restart")

    async def begin_maintenance(self, rest: bool = False) -> None:
        self.ws_maintenance = True
        self.rest_maintenance = rest
        await self.send_info(
            20060,
            "Entering in Maintenance mode. Please pause any activity and resume after receiving "
            "the info message 20061 (it should take 120 seconds at most).",
        )

    async def end_maintenance(self) -> None:
        self.ws_maintenance = False
        self.rest_maintenance = False
        await self.send_info(
            20061,
            "Maintenance ended. You can resume normal activity. "
            "It is advised to unsubscribe/subscribe again all channels.",
        )

    def silence_connections(self, symbol_id: str | None = None) -> int:
        """Open connections (those carrying `symbol_id`'s candles, if given) stop sending anything
        (no data, no heartbeats, no pongs) but stay open. How many were silenced."""
        chosen = [
            conn
            for conn in self.connections
            if symbol_id is None or any(key.endswith(f":{symbol_id}") for key in conn.channels.values())
        ]
        for conn in chosen:
            conn.silenced = True
        return len(chosen)

    @property
    def channel_count(self) -> int:
        return sum(len(conn.channels) for conn in self.connections)

    def requests_to(self, prefix: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    # ------------------------------------------------------------------ REST plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/ws/2":
            response: web.StreamResponse = await handler(request)
            return response
        body = await request.text()
        self.requests.append(SeenRequest(request.method, request.path, dict(request.query), body))
        if self._rate_limited_requests > 0:
            self._rate_limited_requests -= 1
            return web.json_response(["error", 11010, "ratelimit: error"], status=429)
        try:
            if self.rest_maintenance and request.path != "/v2/platform/status":
                raise _BitfinexError(20060, "maintenance")
            response = await handler(request)
            return response
        except _BitfinexError as exc:
            return web.json_response(["error", exc.code, exc.text], status=exc.status)

    def _symbol(self, symbol_id: str) -> str:
        if not symbol_id.startswith("t") or symbol_id[1:] not in self.pairs:
            raise _BitfinexError(10020, "symbol: invalid")
        return symbol_id

    # ------------------------------------------------------------------ public REST

    async def _candles_handler(self, request: web.Request) -> web.Response:
        parts = request.match_info["candle"].split(":", 2)
        if len(parts) != 3 or parts[0] != "trade":
            raise _BitfinexError(10020, "key: invalid")
        _, timeframe, symbol_id = parts
        if timeframe not in TIMEFRAMES:
            raise _BitfinexError(10020, "time_frame: invalid")
        self._symbol(symbol_id)
        query = request.query
        limit = _int_param(query, "limit", 100)
        if not 1 <= limit <= 10_000:
            raise _BitfinexError(10020, "limit: invalid")
        start = _int_param(query, "start", None)
        end = _int_param(query, "end", None)
        ascending = query.get("sort", "-1") in ("1", "+1")
        rows = [
            row
            for row in self.rows(symbol_id, timeframe)
            if (start is None or row[0] >= start) and (end is None or row[0] <= end)
        ]
        if not ascending:
            rows.reverse()
        section = request.match_info["section"]
        if section == "last":
            newest = max(rows, key=lambda r: r[0]) if rows else []
            return web.json_response(newest)
        if section != "hist":
            raise _BitfinexError(10020, "section: invalid")
        return web.json_response(rows[:limit])

    def _ticker_row(self, symbol_id: str) -> list[float]:
        price = float(self.prices.get(symbol_id, Decimal(0)))
        return [price, 1.0, price, 1.0, 0.0, 0.0, price, 100.0, price, price]

    async def _ticker_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self._ticker_row(self._symbol(request.match_info["symbol"])))

    async def _tickers_handler(self, request: web.Request) -> web.Response:
        wanted = request.query.get("symbols", "ALL")
        ids = ["t" + p for p in self.pairs] if wanted == "ALL" else wanted.split(",")
        return web.json_response([[s, *self._ticker_row(s)] for s in ids if s[1:] in self.pairs])

    async def _status_handler(self, request: web.Request) -> web.Response:
        return web.json_response([0 if (self.rest_maintenance or self.ws_maintenance) else 1])

    async def _conf_handler(self, request: web.Request) -> web.Response:
        return web.json_response([self._conf(key) for key in request.match_info["keys"].split(",")])

    def _conf(self, key: str) -> Any:
        if key == "pub:info:pair":
            filler = [None] * 7
            return [[pair, [None, None, None, lo, hi, *filler]] for pair, (lo, hi) in self.pairs.items()]
        if key == "pub:list:pair:exchange":
            return list(self.pairs)
        if key == "pub:list:currency":
            codes: set[str] = set()
            for pair in self.pairs:
                codes.update(_split_pair(pair))
            return sorted(codes)
        return []

    # ------------------------------------------------------------------ signed REST

    async def _authenticate(self, request: web.Request) -> tuple[FakeAccount, dict[str, Any]]:
        api_key = request.headers.get("bfx-apikey", "")
        nonce = request.headers.get("bfx-nonce", "")
        signature = request.headers.get("bfx-signature", "")
        account = self.accounts.get(api_key)
        if account is None:
            raise _BitfinexError(10100, "apikey: invalid")
        raw = await request.read()
        payload = f"/api{request.path}{nonce}".encode() + raw
        expected = hmac.new(account.secret.encode(), payload, hashlib.sha384).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _BitfinexError(10100, "apikey: digest invalid")
        if not nonce.isdigit() or int(nonce) <= account.last_nonce:
            raise _BitfinexError(10114, "nonce: small")
        account.last_nonce = int(nonce)
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise _BitfinexError(10020, "body: invalid")
        return account, body

    async def _wallets_handler(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        return web.json_response(
            [
                [kind, currency, float(balance), 0, float(available), None, None]
                for (kind, currency), (balance, available) in account.wallets.items()
            ]
        )

    async def _submit_handler(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        if self.drop_submits > 0:
            self.drop_submits -= 1
            _cut(request)
        order_type = body.get("type")
        if order_type not in ORDER_TYPES:
            raise _BitfinexError(10020, "type: invalid")
        symbol_id = self._symbol(str(body.get("symbol")))
        amount = _decimal(body.get("amount"), "amount")
        if amount == 0:
            raise _BitfinexError(10020, "amount: invalid")
        cid = body.get("cid")
        if cid is not None and (not isinstance(cid, int) or isinstance(cid, bool)):
            raise _BitfinexError(10020, "cid: invalid")
        base, quote = _split_pair(symbol_id[1:])
        min_size = Decimal(self.pairs[symbol_id[1:]][0])
        if abs(amount) < min_size:
            raise _BitfinexError(10001, f"Invalid order: minimum size for {base}/{quote} is {min_size}")
        if not order_type.startswith("EXCHANGE "):
            raise _BitfinexError(
                10001, f"Invalid order: not enough tradable balance for {amount} {symbol_id[1:]} at 0"
            )
        if order_type == "EXCHANGE MARKET":
            price = self.prices.get(symbol_id)
            if price is None:
                raise _BitfinexError(10001, f"Invalid order: no market price for {symbol_id[1:]}")
        elif order_type == "EXCHANGE LIMIT":
            price = _decimal(body.get("price"), "price")
        else:
            raise _BitfinexError(10001, f"Invalid order: the fake does not support {order_type}")
        self._check_balance(account, symbol_id, base, quote, amount, price)
        order_id = next(self._order_ids)
        order = _order_row(order_id, cid, symbol_id, self.now_ms, amount, order_type, price)
        account.orders.append(order)
        notification = [
            self.now_ms,
            "on-req",
            None,
            None,
            [list(order)],
            None,
            "SUCCESS",
            "Submitting 1 orders.",
        ]
        if order_type == "EXCHANGE MARKET" and self.fill_market_orders:
            self._execute(account, order, base, quote, price)
        if self.lose_replies > 0:
            self.lose_replies -= 1
            _cut(request)
        if self.reply_delay_s > 0:
            await asyncio.sleep(self.reply_delay_s)
        return web.json_response(notification)

    def executed_orders(self, api_key: str) -> list[list[Any]]:
        """The orders of a key that traded (to compare with what Tradewinds recorded)."""
        return [o for o in self.accounts[api_key].orders if str(o[13]).startswith("EXECUTED")]

    def _check_balance(
        self, account: FakeAccount, symbol_id: str, base: str, quote: str, amount: Decimal, price: Decimal
    ) -> None:
        if amount > 0:
            needed, currency = amount * price * (1 + self.taker_fee), quote
        else:
            needed, currency = -amount, base
        available = account.wallets.get(("exchange", currency), [Decimal(0), Decimal(0)])[1]
        if needed > available:
            raise _BitfinexError(
                10001,
                f"Invalid order: not enough exchange balance for {abs(amount)} {symbol_id[1:]} at {price}",
            )

    def _execute(self, account: FakeAccount, order: list[Any], base: str, quote: str, price: Decimal) -> None:
        """Fill an order completely at `price`; the taker fee is paid in the currency received."""
        amount = Decimal(str(order[7]))
        base_wallet = account.wallets.setdefault(("exchange", base), [Decimal(0), Decimal(0)])
        quote_wallet = account.wallets.setdefault(("exchange", quote), [Decimal(0), Decimal(0)])
        if amount > 0:
            fee, fee_currency = amount * self.taker_fee, base
            base_delta, quote_delta = amount - fee, -amount * price
        else:
            proceeds = -amount * price
            fee, fee_currency = proceeds * self.taker_fee, quote
            base_delta, quote_delta = amount, proceeds - fee
        for wallet, delta in ((base_wallet, base_delta), (quote_wallet, quote_delta)):
            wallet[0] += delta
            wallet[1] += delta
        order[5] = self.now_ms + 1
        order[6] = 0.0
        order[13] = f"EXECUTED @ {price}({amount})"
        order[17] = float(price)
        account.trades.append(
            [
                next(self._trade_ids),
                order[3],
                self.now_ms + 1,
                order[0],
                float(amount),
                float(price),
                order[8],
                float(price),
                -1,
                -float(fee),
                fee_currency,
                order[2],
            ]
        )

    async def _active_orders_handler(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        symbol = request.match_info.get("symbol")
        ids = set(body.get("id") or [])
        return web.json_response(
            [
                o
                for o in account.orders
                if o[13] == "ACTIVE" and (symbol is None or o[3] == symbol) and (not ids or o[0] in ids)
            ]
        )

    async def _orders_hist_handler(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        symbol = request.match_info.get("symbol")
        ids = set(body.get("id") or [])
        start, end = body.get("start"), body.get("end")
        limit = int(body.get("limit") or 25)
        found = [
            o
            for o in reversed(account.orders)  # newest first, as Bitfinex answers
            if o[13] != "ACTIVE"
            and (symbol is None or o[3] == symbol)
            and (not ids or o[0] in ids)
            and (start is None or o[5] >= start)
            and (end is None or o[5] <= end)
        ]
        return web.json_response(found[: min(limit, 2500)])

    async def _order_trades_handler(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        symbol_id, _, order_id = request.match_info["ref"].rpartition(":")
        return web.json_response([t for t in account.trades if t[1] == symbol_id and str(t[3]) == order_id])

    # ------------------------------------------------------------------ WebSocket

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections_opened += 1
        conn = FakeConnection(number=self.connections_opened, ws=ws)
        self.connections.append(conn)
        await conn.send(
            {
                "event": "info",
                "version": 2,
                "serverId": f"fake-{conn.number}",
                "platform": {"status": 0 if self.ws_maintenance else 1},
            }
        )
        beat = asyncio.create_task(self._heartbeats(conn))
        self._tasks.add(beat)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_ws_message(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            beat.cancel()
            self._tasks.discard(beat)
            if conn in self.connections:
                self.connections.remove(conn)
        return ws

    async def _heartbeats(self, conn: FakeConnection) -> None:
        tick = min(self.heartbeat_s / 4, 1.0)
        while not conn.ws.closed:
            await asyncio.sleep(tick)
            if self.ws_maintenance:
                continue  # the venue goes quiet during maintenance
            now = time.monotonic()
            for chan_id in list(conn.channels):
                if now - conn.last_sent.get(chan_id, 0.0) >= self.heartbeat_s:
                    await conn.send([chan_id, "hb"])

    async def _on_ws_message(self, conn: FakeConnection, text: str) -> None:
        if conn.silenced:
            return
        try:
            message = json.loads(text)
        except ValueError:
            await conn.send({"event": "error", "msg": "Invalid JSON", "code": 10000})
            return
        event = message.get("event") if isinstance(message, dict) else None
        if event == "subscribe":
            await self._subscribe(conn, message)
        elif event == "unsubscribe":
            chan_id = message.get("chanId")
            if chan_id in conn.channels:
                del conn.channels[chan_id]
                await conn.send({"event": "unsubscribed", "status": "OK", "chanId": chan_id})
            else:
                await conn.send({"event": "error", "msg": "unsubscribe: invalid", "code": 10400})
        elif event == "ping":
            await conn.send({"event": "pong", "ts": self.now_ms, "cid": message.get("cid")})
        elif event == "conf":
            await conn.send({"event": "conf", "status": "OK", "flags": message.get("flags", 0)})
        else:
            await conn.send({"event": "error", "msg": "Unknown event", "code": 10000})

    async def _subscribe(self, conn: FakeConnection, message: dict[str, Any]) -> None:
        self.subscribe_requests += 1
        channel, key = message.get("channel"), message.get("key")
        echo = {"channel": channel, "key": key}
        if channel != "candles":
            await conn.send({"event": "error", "msg": "channel: unknown", "code": 10302, **echo})
            return
        parts = str(key).split(":", 2)
        if len(parts) != 3 or parts[0] != "trade" or parts[1] not in TIMEFRAMES:
            await conn.send({"event": "error", "msg": "subscribe: invalid", "code": 10300, **echo})
            return
        symbol_id = parts[2]
        if not symbol_id.startswith("t") or symbol_id[1:] not in self.pairs:
            await conn.send({"event": "error", "msg": "symbol: invalid", "code": 10300, **echo})
            return
        if key in conn.channels.values():
            await conn.send({"event": "error", "msg": "subscribe: dup", "code": 10301, **echo})
            return
        if len(conn.channels) >= self.max_channels:
            await conn.send({"event": "error", "msg": "subscribe: limit", "code": 10305, **echo})
            return
        chan_id = next(self._chan_ids)
        conn.channels[chan_id] = str(key)
        await conn.send({"event": "subscribed", "channel": "candles", "chanId": chan_id, "key": key})
        newest_first = list(reversed(self.rows(symbol_id, parts[1])))[: self.snapshot_size]
        await conn.send([chan_id, newest_first])


def _order_row(
    order_id: int,
    cid: int | None,
    symbol_id: str,
    now_ms: int,
    amount: Decimal,
    order_type: str,
    price: Decimal,
) -> list[Any]:
    row: list[Any] = [None] * 32
    row[0], row[1], row[2], row[3] = order_id, None, cid, symbol_id
    row[4] = row[5] = now_ms
    row[6] = row[7] = float(amount)
    row[8] = order_type
    row[12] = 0
    row[13] = "ACTIVE"
    row[16] = float(price)
    row[17] = 0.0
    row[18] = row[19] = 0
    row[23] = row[24] = 0
    row[28] = "API>BFX"
    row[31] = {}
    return row


def _split_pair(pair: str) -> tuple[str, str]:
    if ":" in pair:
        base, quote = pair.split(":", 1)
        return base, quote
    return pair[:3], pair[3:6]


def _decimal(value: Any, name: str) -> Decimal:
    if not isinstance(value, str):
        raise _BitfinexError(10020, f"{name}: invalid")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise _BitfinexError(10020, f"{name}: invalid") from None


def _int_param(query: Any, name: str, default: int | None) -> Any:
    text = query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise _BitfinexError(10020, f"{name}: invalid") from None


def _cut(request: web.Request) -> None:
    """Close the client's connection without an answer: to it, the reply never comes."""
    if request.transport is not None:
        request.transport.abort()
    raise ConnectionResetError("the fake cut the connection")
