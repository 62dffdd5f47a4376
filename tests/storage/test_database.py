"""Database URLs as users write them, and how SQLite connections are set up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from tradewinds.storage.database import (
    connect,
    create_engine,
    create_session_factory,
    default_database_url,
    describe_database_error,
    display_url,
    normalize_database_url,
    resolve_database_url,
)
from tradewinds.storage.errors import DatabaseUrlError
from tradewinds.storage.models import CandleSeriesRow


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///tradewinds.db", "sqlite+aiosqlite:///tradewinds.db"),
        ("sqlite:///data/candles.db", "sqlite+aiosqlite:///data/candles.db"),
        ("sqlite:////var/lib/tradewinds/t.db", "sqlite+aiosqlite:////var/lib/tradewinds/t.db"),
        ("sqlite+aiosqlite:////tmp/t.db", "sqlite+aiosqlite:////tmp/t.db"),
        ("sqlite+pysqlite:///t.db", "sqlite+aiosqlite:///t.db"),
        ("postgresql://trader@db.local/tradewinds", "postgresql+asyncpg://trader@db.local/tradewinds"),
        ("postgres://trader:s3cret@db.local:5433/tw", "postgresql+asyncpg://trader:s3cret@db.local:5433/tw"),
        ("postgresql+asyncpg://trader@127.0.0.1/tw", "postgresql+asyncpg://trader@127.0.0.1/tw"),
        ("postgresql+psycopg2://trader@127.0.0.1/tw", "postgresql+asyncpg://trader@127.0.0.1/tw"),
        ("postgresql://trader@host/tw?sslmode=require", "postgresql+asyncpg://trader@host/tw?ssl=require"),
        ("  postgresql://trader@host/tw  ", "postgresql+asyncpg://trader@host/tw"),
    ],
)
def test_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_an_unsupported_scheme_is_named_with_what_is_supported() -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        normalize_database_url("mysql://trader:s3cret@db.local/tw")
    message = str(caught.value)
    assert "'mysql'" in message and "sqlite:///" in message and "postgresql://" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://trader@db.local", "names no database"),
        ("not a database url", "is not a database URL"),
        ("", "is not a database URL"),
    ],
)
def test_unusable_urls_say_why(given: str, complaint: str) -> None:
    with pytest.raises(DatabaseUrlError, match=complaint):
        normalize_database_url(given)


def test_display_url_masks_the_password() -> None:
    assert display_url("postgresql://trader:s3cret@db.local/tw") == "postgresql://trader:***@db.local/tw"


def test_the_default_is_tradewinds_db_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path))
    monkeypatch.delenv("TRADEWINDS_DATABASE_URL", raising=False)
    assert resolve_database_url() == f"sqlite+aiosqlite:///{tmp_path / 'tradewinds.db'}"
    assert resolve_database_url() == default_database_url(tmp_path)


def test_the_environment_url_wins_and_an_explicit_one_wins_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWINDS_HOME", str(tmp_path))
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", "postgres://trader@db.local/tw")
    assert resolve_database_url() == "postgresql+asyncpg://trader@db.local/tw"
    assert resolve_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_a_sqlite_file_in_a_missing_folder_is_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match="does not exist"):
        create_engine(f"sqlite:///{tmp_path / 'nowhere' / 'tradewinds.db'}")


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    async with connect(f"sqlite:///{tmp_path / 't.db'}") as engine, engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000


async def test_connection_failures_read_as_one_line() -> None:
    url = "postgresql://trader:s3cret@127.0.0.1:1/tw"  # nothing listens on port 1
    async with connect(url) as engine:
        with pytest.raises(OSError) as caught:
            async with engine.connect():
                pass
    message = describe_database_error(caught.value, normalize_database_url(url))
    assert message.startswith("cannot reach database postgresql+asyncpg://trader:***@127.0.0.1:1/tw")
    assert "s3cret" not in message and "\n" not in message


async def test_query_failures_read_as_one_line(database_url: str) -> None:
    async with connect(database_url) as engine:
        with pytest.raises(SQLAlchemyError) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
    message = describe_database_error(caught.value, database_url)
    assert message.startswith(f"database {database_url}: ") and "no_such_table" in message
    assert "<class" not in message and "sqlalche.me" not in message and "\n" not in message


async def test_sessions_work_with_the_models(database_url: str) -> None:
    async with connect(database_url) as engine:
        sessions = create_session_factory(engine)
        async with sessions() as session:
            session.add(CandleSeriesRow(exchange="bitfinex", symbol="BTC/USD", timeframe="1h"))
            await session.commit()
        async with sessions() as session:
            row = (await session.execute(select(CandleSeriesRow))).scalar_one()
            assert (row.id, row.exchange, row.symbol, row.timeframe) == (1, "bitfinex", "BTC/USD", "1h")
