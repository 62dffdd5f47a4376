"""A small trading world for the decision tests: a user, strategies, a paper account, assignments,
stored candles, and closes published the way the core publishes them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.bus import codec, streams, subjects
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.messages import ClosedCandle, CloseReason
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.accounts import add_paper_account
from tradewinds.storage.assignments import add_assignment
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.strategies import save_strategy
from tradewinds.storage.trading_models import AssignmentRow, DecisionRow
from tradewinds.storage.users import User, add_user

M = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % M
SYMBOL = "ALPHA/USD"
SERIES = SeriesKey("sim", SYMBOL, Timeframe.M1)

LONG_WHEN_RISING = 'if close() > ta.sma(3)() then return "long" end return "short"'
ALWAYS_FAILS = "local x = nil\nreturn x.y\n"


def rising_candles(n: int, start_ms: int = T0) -> list[Candle]:
    return [Candle(start_ms + k * M, 100.0 + k, 100.5 + k, 99.5 + k, 100.0 + k, 1.0) for k in range(n)]


@dataclass
class World:
    engine: AsyncEngine
    user: User

    @classmethod
    async def make(cls, engine: AsyncEngine) -> World:
        user = await add_user(engine, "trader@example.com", "correct horse battery staple")
        await add_paper_account(engine, user, "paper", {"USD": Decimal("100000")})
        return cls(engine, user)

    async def assign(self, name: str, source: str, symbol: str = SYMBOL, timeframe: str = "1m") -> int:
        await save_strategy(self.engine, self.user, name, source)
        view = await add_assignment(
            self.engine,
            self.user,
            strategy=name,
            exchange="sim",
            symbol=symbol,
            timeframe=timeframe,
            account="paper",
            allocation=Decimal("1000"),
        )
        return view.id

    async def store(self, candles: list[Candle], key: SeriesKey = SERIES) -> None:
        await CandleStore(self.engine).upsert(key, candles)

    async def assignment(self, assignment_id: int) -> AssignmentRow:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(AssignmentRow).where(AssignmentRow.id == assignment_id))).one()
        return row  # type: ignore[return-value]

    async def decisions(self) -> list[DecisionRow]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(DecisionRow).order_by(DecisionRow.id))).all())  # type: ignore[arg-type]

    async def pause(self, paused: bool = True) -> None:
        from tradewinds.storage.users import set_trading_paused

        await set_trading_paused(self.engine, self.user, paused)

    async def set_target(self, assignment_id: int, target: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(AssignmentRow).where(AssignmentRow.id == assignment_id).values(target=target)
            )


async def publish_close(nc: object, candle: Candle, key: SeriesKey = SERIES) -> None:
    close = ClosedCandle(key.exchange, key.symbol, key.timeframe.value, candle, CloseReason.NEXT_CANDLE)
    js = nc.jetstream()  # type: ignore[attr-defined]
    await streams.ensure_stream(js, streams.CANDLES)
    await js.publish(
        subjects.closed_candles(key.exchange, key.symbol, key.timeframe),
        codec.encode(close),
        headers={"Nats-Msg-Id": streams.closed_candle_id(close)},
    )
