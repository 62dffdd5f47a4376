"""Markets: every market the connected exchanges list (asked of their adapters over the bus) and
every market with stored candles, with the last price and 24-hour change where candles are
stored; and their candles at any timeframe."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.bus import codec, subjects
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.messages import MarketListing
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.models import CandleSeriesRow
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import Invalid, not_found
from tradewinds.web.paging import Limit, Offset, page
from tradewinds.web.schemas import ERROR_RESPONSES, Candle, CandlesOut, MarketOut, Page, TimeframeText

log = logging.getLogger("tradewinds.web")

router = APIRouter(responses=ERROR_RESPONSES, tags=["markets"])

MAX_CANDLES = 20_000
_DAY_MS = 86_400_000
_CACHE_S = 5.0
_LISTING_CACHE_S = 60.0
_LISTING_TIMEOUT_S = 3.0


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


async def _listed(bus: Any | None) -> dict[tuple[str, str], bool]:
    """Every market the connected exchanges list: (exchange, symbol) -> streamed now. Asked of
    each exchange adapter that announces itself on the bus; one that does not answer is skipped."""
    if bus is None:
        return {}
    from tradewinds.bus.presence import query_presence

    exchanges = {
        str(a.stats.get("exchange"))
        for a in await query_presence(bus, wait_s=0.3)
        if a.component == "exchange"
    }
    listed: dict[tuple[str, str], bool] = {}
    for exchange in sorted(e for e in exchanges if e and e != "None"):
        try:
            reply = await bus.request(subjects.market_listing(exchange), b"", timeout=_LISTING_TIMEOUT_S)
            listing = codec.decode(reply.data, MarketListing)
        except Exception as exc:  # an adapter that does not answer: its stored markets still show
            log.info("web: %s did not list its markets: %s", exchange, exc)
            continue
        streamed = set(listing.streamed)
        listed.update({(exchange, symbol): symbol in streamed for symbol in listing.symbols})
    return listed


async def _all_markets(request: Request, engine: AsyncEngine) -> list[MarketOut]:
    """Markets with stored candles (price, 24 h change), then the rest the exchanges list."""
    cache = request.app.state.market_cache
    now = time.monotonic()
    if cache.get("at", 0.0) < now - _CACHE_S:
        if cache.get("listed_at", 0.0) < now - _LISTING_CACHE_S:
            cache["listed"] = await _listed(request.app.state.bus)
            # Nothing listed (no adapter running yet): ask again soon rather than in a minute.
            cache["listed_at"] = now if cache["listed"] else 0.0
        store = CandleStore(engine)
        series = await _series(engine)
        listed: dict[tuple[str, str], bool] = cache["listed"]
        stored = [await _market(store, ex, sym, frames) for (ex, sym), frames in sorted(series.items())]
        for market in stored:
            market.streamed = listed.get((market.exchange, market.symbol), False)
        rest = [
            MarketOut(
                exchange=ex, symbol=sym, timeframes=[], last_price=None, change_24h=None, volume_24h=None,
                last_time_ms=None, streamed=live,
            )
            for (ex, sym), live in sorted(listed.items())
            if (ex, sym) not in series
        ]  # fmt: skip
        cache["markets"] = stored + rest
        cache["at"] = now
    markets: list[MarketOut] = cache["markets"]
    return markets


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
    markets = await _all_markets(request, engine)
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
