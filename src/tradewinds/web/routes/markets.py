"""Markets with stored candles (every market an exchange adapter streams or history was loaded
for), their last price and 24-hour change, and their candles at any timeframe."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.models import CandleSeriesRow
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import Invalid, not_found
from tradewinds.web.paging import Limit, Offset, page
from tradewinds.web.schemas import ERROR_RESPONSES, Candle, CandlesOut, MarketOut, Page, TimeframeText

router = APIRouter(responses=ERROR_RESPONSES, tags=["markets"])

MAX_CANDLES = 20_000
_DAY_MS = 86_400_000
_CACHE_S = 5.0


async def _series(engine: AsyncEngine) -> dict[tuple[str, str], list[str]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(CandleSeriesRow.exchange, CandleSeriesRow.symbol, CandleSeriesRow.timeframe)
            )
        ).all()
    markets: dict[tuple[str, str], list[str]] = {}
    for exchange, symbol, timeframe in rows:
        markets.setdefault((exchange, symbol), []).append(timeframe)
    for frames in markets.values():
        frames.sort(key=lambda tf: Timeframe(tf).ms)
    return markets


async def _market(store: CandleStore, exchange: str, symbol: str, frames: list[str]) -> MarketOut:
    finest = Timeframe(frames[0])
    key = SeriesKey(exchange, symbol, finest)
    last = await store.last(key, 1)
    if not last:
        return MarketOut(
            exchange=exchange,
            symbol=symbol,
            timeframes=frames,
            last_price=None,
            change_24h=None,
            volume_24h=None,
            last_time_ms=None,
        )
    newest = last[-1]
    day = await store.range(key, newest.time - _DAY_MS + finest.ms, newest.time)
    opened = day[0].open if day else None
    change = (newest.close / opened - 1.0) if opened else None
    return MarketOut(
        exchange=exchange,
        symbol=symbol,
        timeframes=frames,
        last_price=newest.close,
        change_24h=change,
        volume_24h=sum(c.volume for c in day),
        last_time_ms=newest.time,
    )


@router.get("/markets", response_model=Page[MarketOut])
async def list_markets(
    request: Request,
    user: CurrentUser,
    engine: Engine,
    offset: Offset = 0,
    limit: Limit = 100,
    q: Annotated[str | None, Query(max_length=64, description="part of the symbol or exchange")] = None,
    exchange: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[MarketOut]:
    cache = request.app.state.market_cache
    if cache.get("at", 0.0) < time.monotonic() - _CACHE_S:
        store = CandleStore(engine)
        series = await _series(engine)
        cache["markets"] = [
            await _market(store, ex, sym, frames) for (ex, sym), frames in sorted(series.items())
        ]
        cache["at"] = time.monotonic()
    markets: list[MarketOut] = cache["markets"]
    if exchange:
        markets = [m for m in markets if m.exchange == exchange.lower()]
    if q:
        needle = q.strip().upper()
        markets = [m for m in markets if needle in m.symbol or needle.lower() in m.exchange]
    return page(markets, offset, limit)


@router.get("/markets/{exchange}/candles", response_model=CandlesOut)
async def candles(
    exchange: str,
    user: CurrentUser,
    engine: Engine,
    symbol: Annotated[str, Query(min_length=3, max_length=64, description="unified symbol, e.g. BTC/USD")],
    timeframe: TimeframeText = "1h",
    since: Annotated[int | None, Query(ge=0, le=32_503_680_000_000, description="epoch ms")] = None,
    until: Annotated[int | None, Query(ge=0, le=32_503_680_000_000, description="epoch ms")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CANDLES)] = 2_000,
) -> CandlesOut:
    """Candles of a market, oldest first: the newest `limit` in [since, until]. A timeframe that
    is not stored is rolled up from the finest stored one that divides it (closed buckets only)."""
    exchange, symbol = exchange.lower(), symbol.upper()
    if since is not None and until is not None and since > until:
        raise Invalid("since must not be after until", "since")
    frames = (await _series(engine)).get((exchange, symbol))
    if not frames:
        raise not_found("market", f"{exchange} {symbol}")
    wanted = Timeframe(timeframe)
    usable = [tf for tf in frames if wanted.ms % Timeframe(tf).ms == 0]
    if not usable:
        raise Invalid(
            f"{exchange} {symbol} has no candles {timeframe} can be made from (stored: {', '.join(frames)})",
            "timeframe",
        )
    source = Timeframe(wanted.value if wanted.value in usable else usable[0])
    store = CandleStore(engine)
    key = SeriesKey(exchange, symbol, source)
    if since is None:
        newest = await store.latest_time(key, None, until)
        since = None if newest is None else newest - (limit + 1) * wanted.ms
    arrays = await store.range_arrays(key, since, until)
    if source != wanted:
        arrays = resample_candles(arrays, wanted)
    rows: list[Candle] = [
        (int(t), float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(
            arrays.time, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume, strict=True
        )
    ][-limit:]
    return CandlesOut(exchange=exchange, symbol=symbol, timeframe=wanted.value, candles=rows)
