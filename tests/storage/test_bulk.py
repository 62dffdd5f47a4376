"""storage/bulk.py: one statement, written with :name placeholders, run for many rows on both
databases, in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tradewinds.storage.bulk import bulk_statement, execute_many, id_list_query, select_rows
from tradewinds.storage.database import create_engine


def test_a_statement_renders_for_both_parameter_styles() -> None:
    statement = bulk_statement("UPDATE t SET a = :a, b = :b WHERE id = :id AND (c IS NULL OR c <= :a)")
    assert statement.qmark == "UPDATE t SET a = ?, b = ? WHERE id = ? AND (c IS NULL OR c <= ?)"
    assert statement.qmark_names == ("a", "b", "id", "a")
    assert statement.numeric == "UPDATE t SET a = $1, b = $2 WHERE id = $3 AND (c IS NULL OR c <= $1)"
    assert statement.numeric_names == ("a", "b", "id")


def test_casts_and_times_are_not_placeholders() -> None:
    statement = bulk_statement("SELECT :a::text, '12:30', x FROM t WHERE y = :b")
    assert statement.qmark_names == ("a", "b")
    assert statement.qmark == "SELECT ?::text, '12:30', x FROM t WHERE y = ?"


def test_a_statement_without_placeholders_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        bulk_statement("DELETE FROM t")


async def test_rows_are_written_in_the_transaction_and_rolled_back_with_it(database_url: str) -> None:
    engine = create_engine(database_url)
    insert = bulk_statement("INSERT INTO bulk_probe (id, name, score) VALUES (:id, :name, :score)")
    raise_by = bulk_statement("UPDATE bulk_probe SET score = score + :by WHERE id = :id AND score < :limit")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bulk_probe"))
            await conn.execute(
                text("CREATE TABLE bulk_probe (id INTEGER PRIMARY KEY, name TEXT, score INTEGER)")
            )
            rows = [{"id": i, "name": f"n{i}", "score": i} for i in range(1, 501)]
            await execute_many(conn, insert, rows)
            await execute_many(conn, raise_by, [{"id": i, "by": 1000, "limit": 250} for i in range(1, 501)])
            await execute_many(conn, raise_by, [])
        async with engine.connect() as conn:
            rows_read = (await conn.execute(text("SELECT id, score FROM bulk_probe"))).all()
        scores = {int(i): int(score) for i, score in rows_read}
        assert scores == {i: i + 1000 if i < 250 else i for i in range(1, 501)}

        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await execute_many(conn, insert, [{"id": 1000, "name": "gone", "score": 0}])
                raise RuntimeError("the transaction fails after the bulk write")
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM bulk_probe"))).scalar_one()
        assert count == 500
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bulk_probe"))
        await engine.dispose()


def test_an_id_list_renders_as_one_parameter_for_each_database() -> None:
    query = id_list_query("SELECT id FROM t WHERE id IN :ids[] AND score > :least")
    assert query.qmark == "SELECT id FROM t WHERE id IN (SELECT value FROM json_each(?)) AND score > ?"
    assert query.qmark_names == ("ids", "least")
    assert (
        query.numeric == "SELECT id FROM t WHERE id IN (SELECT unnest(CAST($1 AS BIGINT[]))) AND score > $2"
    )
    assert query.id_lists == {"ids"}
    with pytest.raises(ValueError, match="IN :name"):
        id_list_query("SELECT id FROM t WHERE id = :id")


async def test_a_long_id_list_selects_exactly_its_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    insert = bulk_statement("INSERT INTO bulk_probe (id, name, score) VALUES (:id, :name, :score)")
    query = id_list_query(
        "SELECT id, name FROM bulk_probe WHERE id IN :ids[] AND score >= :least ORDER BY id"
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bulk_probe"))
            await conn.execute(
                text("CREATE TABLE bulk_probe (id INTEGER PRIMARY KEY, name TEXT, score INTEGER)")
            )
            await execute_many(
                conn, insert, [{"id": i, "name": f"n{i}", "score": i % 7} for i in range(1, 20_001)]
            )
            wanted = [*range(3, 20_001, 2), 10**9]  # 10,000 ids, one of them absent
            rows = await select_rows(conn, query, {"ids": wanted, "least": 3})
            none = await select_rows(conn, query, {"ids": [], "least": 0})
        assert rows == [(i, f"n{i}") for i in range(3, 20_001, 2) if i % 7 >= 3]
        assert none == []
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bulk_probe"))
        await engine.dispose()
