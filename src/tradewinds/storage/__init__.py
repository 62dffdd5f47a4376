"""Persistence: SQLAlchemy 2 (async) on SQLite or PostgreSQL, schema versioned by Alembic.

- `database`: URLs, engines, sessions, `upgrade_schema(url)`.
- `schema`: Alembic migrations run through the async engine.
- `models`: the declarative tables (`Base.metadata`).
- `candles`: `CandleStore` and `load_candle_arrays`.
"""
