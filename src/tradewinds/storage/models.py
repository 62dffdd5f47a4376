"""The database schema as SQLAlchemy declarative models.

Every table Tradewinds stores lives on `Base.metadata`, so Alembic's autogenerate sees them all:
later tables (users, strategies, assignments, orders, fills) subclass `Base` here or in a module
imported below. The naming convention gives every constraint and index a stable name, which
Alembic needs to alter or drop them later (SQLite batch migrations included).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CandleSeriesRow(Base):
    """One candle series: a market on an exchange at one timeframe."""

    __tablename__ = "candle_series"
    __table_args__ = (UniqueConstraint("exchange", "symbol", "timeframe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    timeframe: Mapped[str] = mapped_column(String(8))  # Timeframe.value, e.g. "1m"


class CandleRow(Base):
    """One candle, keyed by (series_id, time) so a series' candles sit together in time order.

    No foreign key to `candle_series`: only `CandleStore` writes here, always with an id it just
    looked up, and PostgreSQL's per-row foreign-key trigger halved bulk upsert throughput (measured).
    On SQLite the table is WITHOUT ROWID, so the primary key *is* the storage order.
    """

    __tablename__ = "candles"
    __table_args__ = ({"sqlite_with_rowid": False},)

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # open, epoch ms
    open: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[float] = mapped_column(Double)


# The live-trading tables register on Base.metadata when imported; import them here so that every
# user of the schema (Alembic, the schema check) sees them. At the bottom: they import Base.
from tradewinds.storage import trading_models as trading_models  # noqa: E402
from tradewinds.storage import web_models as web_models  # noqa: E402
