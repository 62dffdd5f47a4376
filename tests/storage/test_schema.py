"""Migrations: from nothing to the newest revision, idempotent, in step with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage import schema
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import connect, schema_revision, upgrade_schema
from tradewinds.storage.errors import SchemaNotCurrentError
from tradewinds.storage.models import Base

KEY = SeriesKey("bitfinex", "BTC/USD", Timeframe.M1)


def _model_differences(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_from_empty_then_again_is_a_no_op(blank_database_url: str) -> None:
    assert await schema_revision(blank_database_url) is None
    first = await upgrade_schema(blank_database_url)
    assert (first.before, first.after, first.changed) == (None, schema.head_revision(), True)

    async with connect(blank_database_url) as engine:
        await CandleStore(engine).upsert(KEY, [Candle(60_000, 1.0, 2.0, 0.5, 1.5, 3.0)])

    again = await upgrade_schema(blank_database_url)
    assert (again.before, again.after, again.changed) == (schema.head_revision(),) * 2 + (False,)
    async with connect(blank_database_url) as engine:
        assert await CandleStore(engine).count(KEY) == 1
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version", *Base.metadata.tables}


async def test_migrations_build_exactly_the_models(database_url: str) -> None:
    async with connect(database_url) as engine, engine.connect() as conn:
        assert await conn.run_sync(_model_differences) == []
        assert await schema.new_revision(engine, "nothing to do") is None


async def test_candles_are_keyed_by_series_then_time(database_url: str) -> None:
    async with connect(database_url) as engine, engine.connect() as conn:
        key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("candles"))
        assert key["constrained_columns"] == ["series_id", "time"]
        if engine.dialect.name == "sqlite":
            ddl = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'candles'"))).scalar()
            assert "WITHOUT ROWID" in str(ddl)


async def test_downgrade_to_base_and_back(blank_database_url: str) -> None:
    await upgrade_schema(blank_database_url)
    async with connect(blank_database_url) as engine:
        down = await schema.downgrade(engine, "base")
        assert down.after is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        up = await schema.upgrade(engine)
        assert up.after == schema.head_revision()


async def test_check_current_says_what_to_do(blank_database_url: str) -> None:
    async with connect(blank_database_url) as engine:
        with pytest.raises(
            SchemaNotCurrentError, match=r"no Tradewinds tables yet: run `tradewinds db upgrade`"
        ):
            await schema.check_current(engine, "test db")
        await schema.upgrade(engine)
        await schema.check_current(engine, "test db")
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaNotCurrentError, match="written by a newer Tradewinds"):
            await schema.check_current(engine, "test db")
