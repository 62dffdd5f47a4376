"""Alembic migrations for the Tradewinds schema; run them with `tradewinds db upgrade`."""
